// The tension map: Leaflet with hexagon cells from /api/picture/cells (GeoJSON), re-fetched on every move
// and every refresh interval. The page's summary and hotspot list work without this file.
(function () {
  "use strict";
  var current = null;

  function text(tag, content, className) {
    var el = document.createElement(tag);
    if (content !== undefined && content !== null) el.textContent = String(content);
    if (className) el.className = className;
    return el;
  }

  function formatNumber(locale, value) {
    try { return new Intl.NumberFormat(locale).format(value); } catch (e) { return String(value); }
  }

  function formatTime(locale, iso) {
    if (!iso) return "";
    try {
      return new Intl.DateTimeFormat(locale, { dateStyle: "short", timeStyle: "short", timeZone: "Europe/Helsinki" })
        .format(new Date(iso));
    } catch (e) { return iso; }
  }

  function setParam(url, name, value) {
    var u = new URL(url, window.location.href);
    u.searchParams.set(name, value);
    return u.pathname + "?" + u.searchParams.toString();
  }

  function init(root) {
    var el = root && root.querySelector ? (root.id === "picture-map" ? root : root.querySelector("#picture-map")) : null;
    if (!el || el.dataset.ready || typeof L === "undefined") return;
    el.dataset.ready = "1";
    if (current) {
      window.clearInterval(current.timer);
      current.map.remove();
    }
    var cfg = JSON.parse(el.dataset.map);
    var labels = JSON.parse(el.dataset.labels);
    var locale = el.dataset.locale || "fi";
    var map = L.map(el, { zoomControl: true, attributionControl: !!cfg.tile_url, minZoom: 4, maxZoom: 18 })
      .setView([parseFloat(el.dataset.lat), parseFloat(el.dataset.lon)], parseInt(el.dataset.zoom, 10));
    if (cfg.tile_url) {
      // A tile neither on the network nor on this device is left out (no broken image) and the note says why.
      var tilesNote = document.getElementById("map-tiles-note");
      L.tileLayer(cfg.tile_url, { maxZoom: 19, attribution: cfg.tile_attribution || "" }).on("tileerror", function (e) {
        e.tile.classList.add("tile-missing");
        if (!tilesNote) return;
        tilesNote.textContent = navigator.onLine === false ? labels.tilesOffline : labels.tilesFailed;
        tilesNote.hidden = false;
      }).on("load", function () {
        if (tilesNote && navigator.onLine !== false && !el.querySelector(".tile-missing")) tilesNote.hidden = true;
      }).addTo(map);
    }
    // On a phone the legend takes the bottom's whole width: the scale goes under the zoom buttons instead.
    var narrow = window.matchMedia && window.matchMedia("(max-width: 40rem)").matches;
    L.control.scale({ imperial: false, position: narrow ? "topleft" : "bottomleft" }).addTo(map);
    var state = { map: map, timer: null, cells: null, points: null, legend: null, selected: null, seq: 0 };
    current = state;

    // Coordinates of the pointer (or of the map centre) in the corner: useful on a map without a base layer.
    var Coordinates = L.Control.extend({
      options: { position: "topright" },
      onAdd: function () {
        this._div = L.DomUtil.create("div", "picture-coords");
        this._div.setAttribute("aria-hidden", "true");
        return this._div;
      },
      show: function (latlng, prefix) {
        this._div.textContent = (prefix ? prefix + ": " : "") + latlng.lat.toFixed(5) + "° N, " + latlng.lng.toFixed(5) + "° E";
      }
    });
    var coords = new Coordinates().addTo(map);
    coords.show(map.getCenter(), labels.centre);
    map.on("mousemove", function (e) { coords.show(e.latlng); });
    map.on("mouseout", function () { coords.show(map.getCenter(), labels.centre); });

    // A 44 x 48 px touch target around Leaflet's 25 x 41 px pin (picture.css draws the pin).
    var pin = L.divIcon({ className: "deployment-pin", iconSize: [44, 48], iconAnchor: [22, 46], popupAnchor: [0, -40] });
    (cfg.markers || []).forEach(function (d) {
      L.marker([d.lat, d.lon], { title: d.name, alt: d.name, keyboard: true, icon: pin })
        .bindPopup(function () {
          var box = text("div", null, "picture-popup");
          box.appendChild(text("strong", d.name));
          box.appendChild(text("p", d.place));
          return box;
        }).addTo(map);
    });

    // Open POR problems' areas: dashed outlines above the cells that let taps through to them; each outline's
    // title names the problem (the hotspot list links the problems). A checkbox in the legend shows or hides them;
    // the choice is kept for the browser session (sessionStorage), shown unless it says otherwise.
    var problems = cfg.problems || [];
    var problemLayer = null;
    var PROBLEMS_KEY = "fieldapp.map.problemAreas";

    function problemsShown() {
      try { return window.sessionStorage.getItem(PROBLEMS_KEY) !== "hidden"; } catch (e) { return true; }
    }

    function showProblems(shown) {
      if (!problemLayer) return;
      if (shown) problemLayer.addTo(map); else map.removeLayer(problemLayer);
      el.setAttribute("data-problem-areas-shown", shown ? "1" : "0");
      try { window.sessionStorage.setItem(PROBLEMS_KEY, shown ? "shown" : "hidden"); } catch (e) { /* not kept */ }
    }

    var Legend = L.Control.extend({
      options: { position: "bottomright" },
      onAdd: function () {
        this._div = L.DomUtil.create("div", "picture-legend");
        this._scale = L.DomUtil.create("div", "legend-scale", this._div);
        // Built once, not at each refresh, so that a refresh never takes the keyboard focus away from it.
        if (problems.length) {
          var label = L.DomUtil.create("label", "legend-problems", this._div);
          var box = L.DomUtil.create("input", "", label);
          box.type = "checkbox";
          box.id = "toggle-problem-areas";
          box.checked = problemsShown();
          var sample = L.DomUtil.create("span", "legend-problems-sample", label);
          sample.setAttribute("aria-hidden", "true");
          label.appendChild(text("span", labels.problemAreasToggle));
          L.DomEvent.on(box, "change", function () { showProblems(box.checked); });
        }
        L.DomEvent.disableClickPropagation(this._div);
        L.DomEvent.disableScrollPropagation(this._div);
        return this._div;
      },
      update: function (data) {
        var div = this._scale;
        div.textContent = "";
        div.appendChild(text("strong", labels.legend));
        if (!data.legend.length) {
          div.appendChild(text("p", labels.noData));
          return;
        }
        var list = text("ul");
        data.legend.slice().reverse().forEach(function (entry) {
          var item = text("li");
          var swatch = text("span", null, "swatch c" + entry.colour_class);
          swatch.setAttribute("aria-hidden", "true");
          item.appendChild(swatch);
          item.appendChild(document.createTextNode(entry.min_score === entry.max_score ?
            formatNumber(locale, entry.min_score) :
            formatNumber(locale, entry.min_score) + "–" + formatNumber(locale, entry.max_score)));
          list.appendChild(item);
        });
        div.appendChild(list);
        div.appendChild(text("p", labels.cells.replace("{n}", formatNumber(locale, data.features.length)), "muted"));
      }
    });
    state.legend = new Legend().addTo(map);

    if (problems.length) {
      map.createPane("problem-areas");
      map.getPane("problem-areas").style.zIndex = 450;
      map.getPane("problem-areas").style.pointerEvents = "none";
      problemLayer = L.layerGroup();
      problems.forEach(function (p) {
        p.rings.forEach(function (ring) {
          var outline = L.polygon(ring, { pane: "problem-areas", interactive: false, color: "#0b3d91", weight: 3,
                                          dashArray: "8 6", fill: false, className: "problem-area" });
          // Leaflet makes a new path each time the layer is added: name it each time.
          outline.on("add", function () {
            var path = outline.getElement();
            if (!path) return;
            path.setAttribute("data-problem", p.id);
            var title = document.createElementNS("http://www.w3.org/2000/svg", "title");
            title.textContent = p.title;
            path.appendChild(title);
          });
          problemLayer.addLayer(outline);
        });
      });
      el.setAttribute("data-problem-areas", problems.length);
      showProblems(problemsShown());
    }

    function query() {
      return cfg.query;
    }

    function popupFor(props) {
      var box = text("div", null, "picture-popup");
      box.appendChild(text("strong", labels.score + " " + formatNumber(locale, props.score)));
      box.appendChild(text("p", labels.observations + ": " + formatNumber(locale, props.observations)));
      var kinds = props.kinds || {};
      var codes = Object.keys(kinds).sort(function (a, b) { return kinds[b] - kinds[a]; });
      if (codes.length) {
        box.appendChild(text("p", labels.byKind + ":"));
        var list = text("ul");
        codes.forEach(function (code) {
          list.appendChild(text("li", (labels.kinds[code] || code) + ": " + formatNumber(locale, kinds[code])));
        });
        box.appendChild(list);
      }
      box.appendChild(text("p", labels.reportedTrend + ": " +
        (labels.trend.rising || "rising") + " " + props.rising + ", " +
        (labels.trend.stable || "stable") + " " + props.steady + ", " +
        (labels.trend.easing || "easing") + " " + props.easing));
      box.appendChild(text("p", labels.linked + ": " + formatNumber(locale, props.linked_interventions)));
      if (props.last_observation) box.appendChild(text("p", labels.last + ": " + formatTime(locale, props.last_observation)));
      return box;
    }

    // On a phone the popup would cover the small map: the same counts load below it anyway.
    var roomForPopup = window.matchMedia("(min-width: 40rem)");

    function select(feature, layer) {
      state.selected = feature.id;
      markSelected();
      if (roomForPopup.matches) {
        var centre = layer.getBounds().getCenter();
        var popup = L.popup({ maxWidth: 280 }).setLatLng(centre).setContent(popupFor(feature.properties)).openOn(map);
        fetch(cfg.cell_url + encodeURIComponent(feature.id) + "?" + query(), {
          credentials: "same-origin", headers: { Accept: "application/json" }
        }).then(function (r) { return r.ok ? r.json() : null; }).then(function (props) {
          if (props && popup.isOpen()) popup.setContent(popupFor(props));
        }).catch(function () { /* the popup keeps the counts it has */ });
      }
      var target = document.getElementById("cell-detail");
      if (target && window.htmx) {
        window.htmx.ajax("GET", cfg.detail_url + encodeURIComponent(feature.id) + "?" + query(),
          { target: "#cell-detail", swap: "innerHTML" });
      }
    }

    function markSelected() {
      if (!state.cells) return;
      state.cells.eachLayer(function (layer) {
        var path = layer.getElement();
        if (!path) return;
        if (layer.feature.id === state.selected) path.classList.add("picture-hex-selected");
        else path.classList.remove("picture-hex-selected");
      });
    }

    function colourOf(data, cls) {
      for (var i = 0; i < data.legend.length; i++) {
        if (data.legend[i].colour_class === cls) return data.legend[i].colour;
      }
      return "#999";
    }

    function draw(data) {
      if (state.cells) map.removeLayer(state.cells);
      state.cells = L.geoJSON(data, {
        style: function (f) {
          return { color: "#3d0a0a", weight: 1, opacity: 0.9, fillColor: colourOf(data, f.properties.colour_class),
                   fillOpacity: 0.6, className: "picture-hex" };
        },
        onEachFeature: function (f, layer) {
          layer.on("click", function () { select(f, layer); });
        }
      }).addTo(map);
      state.cells.eachLayer(function (layer) {
        var path = layer.getElement();
        if (!path) return;
        path.setAttribute("data-cell", layer.feature.id);
        path.setAttribute("data-rank", layer.feature.properties.rank);
        path.setAttribute("data-score", layer.feature.properties.score);
      });
      if (state.points) state.points.bringToFront();
      markSelected();
      state.legend.update(data);
      el.setAttribute("data-res", data.res);
      el.setAttribute("data-cells", data.features.length);
    }

    function bboxParam() {
      var b = map.getBounds().pad(0.1);
      return [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()].map(function (v) { return v.toFixed(5); }).join(",");
    }

    function loadCells() {
      var seq = ++state.seq;
      var res = cfg.zoom_res[String(map.getZoom())] || 8;
      var url = cfg.cells_url + "&res=" + res + "&bbox=" + bboxParam();
      el.setAttribute("aria-busy", "true");
      return fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (r) { if (!r.ok) throw new Error(r.status); return r.json(); })
        .then(function (data) {
          if (seq !== state.seq || current !== state) return;  // a newer request was sent meanwhile
          draw(data);
          el.removeAttribute("data-error");
        })
        .catch(function () { el.setAttribute("data-error", labels.failed); })
        .then(function () { el.removeAttribute("aria-busy"); });
    }

    function loadPoints() {
      if (!cfg.points_url) return;
      fetch(cfg.points_url, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (data) {
          if (!data || current !== state) return;
          if (state.points) map.removeLayer(state.points);
          state.points = L.geoJSON(data, {
            pointToLayer: function (f, latlng) {
              return L.circleMarker(latlng, { radius: 3 + f.properties.severity / 2, color: "#111", weight: 1,
                fillColor: "#fff", fillOpacity: 0.9, interactive: false, className: "picture-point" });
            }
          }).addTo(map);
        })
        .catch(function () { /* points are an extra; the cells stay */ });
    }

    // The current view goes into the filter form and the links, so a reload or the list keeps it.
    function keepView() {
      var c = map.getCenter();
      var values = { z: map.getZoom(), lat: c.lat.toFixed(5), lon: c.lng.toFixed(5) };
      document.querySelectorAll("[data-view]").forEach(function (input) { input.value = values[input.dataset.view]; });
      document.querySelectorAll("a[data-keep-view]").forEach(function (a) {
        var href = a.getAttribute("href");
        Object.keys(values).forEach(function (k) { href = setParam(href, k, values[k]); });
        // A link that names a cell size follows the map's: the list then has the map's cells and scores.
        if (/[?&]res=/.test(href) && cfg.zoom_res) href = setParam(href, "res", cfg.zoom_res[values.z]);
        a.setAttribute("href", href);
      });
      coords.show(c, labels.centre);
    }

    // The summary and its top hotspots follow the map's cell size: when a zoom changes it, they are loaded again
    // for this view (their next refresh keeps it: the answer's own poll URL names it).
    function followCellSize() {
      var live = document.getElementById("picture-live");
      var res = cfg.zoom_res[String(map.getZoom())];
      if (!live || !window.htmx || !cfg.live_url || String(res) === live.dataset.res) return;
      var c = map.getCenter();
      window.htmx.ajax("GET", cfg.live_url + "&z=" + map.getZoom() + "&lat=" + c.lat.toFixed(5) + "&lon=" + c.lng.toFixed(5),
        { target: "#picture-live", swap: "outerHTML" });
    }

    var pending = null;
    map.on("moveend", function () {
      keepView();
      followCellSize();
      window.clearTimeout(pending);
      pending = window.setTimeout(loadCells, 200);
    });
    keepView();
    loadCells();
    loadPoints();
    if (cfg.refresh_seconds) {
      state.timer = window.setInterval(function () {
        if (!document.body.contains(el)) { window.clearInterval(state.timer); return; }
        loadCells();
        loadPoints();
      }, cfg.refresh_seconds * 1000);
    }
  }

  // A changed filter applies at once (the Show button stays for typed custom times and for no-JS use).
  document.addEventListener("change", function (event) {
    var field = event.target.closest("#picture-filters [data-auto-submit]");
    if (!field) return;
    if (field.name === "window" && field.value === "custom") return;
    var form = field.form;
    if (form.requestSubmit) form.requestSubmit(); else form.submit();
  });

  document.addEventListener("DOMContentLoaded", function () { init(document); });
  document.addEventListener("htmx:load", function (event) { init(event.detail.elt); });
})();
