"""The situation picture: where, how strongly and between whom tension is rising.

Tension observations are aggregated into h3 hexagons (h3 4.x). What keeps it private and fast:

- Cells: an observation counts in the ancestor (h3.cell_to_parent) of its resolution 9 cell at every
  coarser resolution; h3 cells nest only roughly, so near an outline a point may lie just outside it.
- Cells, never points, area-wide. Only resolutions 5..9 are served. h3.average_hexagon_edge_length(9, "m")
  is 200.8 m, so a resolution 9 cell is about 348 m across its flat sides (402 m corner to corner): at
  least the ~250 m required. Resolution 10 (131 m across) is never served. Individual points are shown
  only for one live deployment, to the unit's leads and the officers assigned to it (Scope.points_allowed).
- Score: the sum of severity weights 2**(severity-1) = 1, 2, 4, 8, 16, 32, so one violent observation
  weighs as much as 32 calm ones; a cell's colour class is its score relative to the top score shown.
- Roll-ups: every located observation is kept in picture_obs (with its resolution 9 cell as an integer)
  and counted in picture_rollup per hour and per day (UTC), per resolution, cell, tension kind ('' = all)
  and group category ('' = all), with totals and counts per severity, per reported trend and of linked
  interventions as columns. A window is answered from whole days, whole hours at its ends and the raw
  observations of the partial hours at its very edges, so every window is exact. Each roll-up key starts
  with an ancestor cell (PARENT_RES), so a map view reads only the rows of the cells it shows. One
  deployment is read from its own observations (few, and indexed).

Modules: cells (h3 and scores), filters (window, filters, scope), rollups (upkeep), aggregation (cells,
legend, hotspots), trends, geojson (map and partner structs), exports (a cell's records, exports),
disclosure (what partners may see: never free text, points or a count of 1-4).
No web imports anywhere here.
"""

from fieldapp.picture.aggregation import (HOTSPOT_LIMIT, CellSummary, Hotspot, LegendEntry, aggregate, cell_summary,
                                          colour_class, fill_kinds, hotspots, legend_for, nearest_place)
from fieldapp.picture.cells import (COLOURS, EASING, FINEST, PARENT_RES, RESOLUTIONS, RISING, SEVERITIES, WEIGHTS,
                                    cell_int, cell_ring, cell_size_m, descendant_range, parent_masks, parent_of,
                                    res_for_zoom)
from fieldapp.picture.disclosure import (MIN_COUNT, DisclosedCell, PartnerSummary, PublicMeasure, PublicProblem,
                                         SummaryCell, disclose, open_problems_for_partners, partner_view, protect,
                                         summarise)
from fieldapp.picture.exports import (DETAIL_LIMIT, EXPORT_FIELDS, CellDetail, InterventionExport,
                                      InterventionExportFeature, InterventionExportProperties, TensionExport,
                                      TensionExportFeature, TensionExportProperties, cell_detail, export_csv,
                                      export_geojson, export_rows, partner_cells)
from fieldapp.picture.filters import (DEFAULT_WINDOW, MAX_WINDOW, WINDOWS, FilterInvalid, NoDeployment, PictureFilter,
                                      Scope, map_centre, map_deployments, parse_bbox, parse_cell, parse_filter,
                                      parse_res, resolve_scope)
from fieldapp.picture.geojson import (PARTNER_CSV_FIELDS, CellCollection, CellFeature, CellProperties, LegendClass,
                                      PartnerCellCollection, PartnerCellFeature, PartnerCellProperties, Point,
                                      PointCollection, PointFeature, PointProperties, Polygon, cell_collection, cell_popup,
                                      partner_collection, partner_csv, points)
from fieldapp.picture.rollups import cleanup, rebuild, record_written, records_written
from fieldapp.picture.trends import Series, trend

__all__ = [
    "MIN_COUNT", "DisclosedCell", "PartnerSummary", "PublicMeasure", "PublicProblem", "SummaryCell", "disclose",
    "open_problems_for_partners", "partner_view", "protect", "summarise",
    "COLOURS", "DEFAULT_WINDOW", "DETAIL_LIMIT", "EASING", "EXPORT_FIELDS", "FINEST", "HOTSPOT_LIMIT", "MAX_WINDOW",
    "PARENT_RES", "PARTNER_CSV_FIELDS", "RESOLUTIONS", "RISING", "SEVERITIES", "WEIGHTS", "WINDOWS",
    "CellCollection", "CellDetail", "CellFeature", "CellProperties", "CellSummary", "FilterInvalid", "Hotspot",
    "InterventionExport", "InterventionExportFeature", "InterventionExportProperties", "LegendClass", "LegendEntry",
    "NoDeployment", "PartnerCellCollection", "PartnerCellFeature", "PartnerCellProperties", "PictureFilter", "Point",
    "PointCollection", "PointFeature", "PointProperties", "Polygon", "Scope", "Series", "TensionExport",
    "TensionExportFeature", "TensionExportProperties",
    "aggregate", "cell_collection", "cell_detail", "cell_popup", "cell_int", "cell_ring", "cell_size_m", "cell_summary", "cleanup",
    "colour_class", "descendant_range", "export_csv", "export_geojson", "export_rows", "fill_kinds", "hotspots",
    "legend_for", "map_centre", "map_deployments", "nearest_place", "parent_masks", "parent_of", "parse_bbox", "parse_cell", "parse_filter",
    "parse_res", "partner_cells", "partner_collection", "partner_csv", "points", "rebuild", "record_written",
    "records_written",
    "res_for_zoom", "resolve_scope", "trend",
]
