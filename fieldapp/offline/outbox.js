/* fieldapp outbox: the ONLY module that reads or writes this device's IndexedDB.
 *
 * Loaded by every page and joined into the service worker (/sw.js), so both use the same code.
 * Stores:  outbox  records saved on this device, until the server acknowledged them
 *          sent    receipts of acknowledged records (the "safe on server" list, newest kept)
 *          copies  records of the user's deployments pulled from the server (colleagues' too)
 *          meta    small values: cursor, last sync, bootstrap data, session, the server's outbox key
 * Sealed: a record's values are encrypted at save time to the server's outbox key (fieldapp/offline/sealing.py:
 * a fresh ECDH P-256 key per record, HKDF-SHA-256, AES-256-GCM, bound to the key id and the user). This device
 * cannot read them back; only a header (kind, deployment, times, state) stays readable. Check-in taps are not
 * sealed (no one else's data). A record saved before the device ever had the key is sealed once it has it.
 */
(function (root) {
  "use strict";

  var DB_NAME = "fieldapp";
  var DB_VERSION = 1;
  var SENT_KEPT = 200;
  var opening = null;
  var wiped = false;  // this device was revoked and its databases deleted: nothing may create them again

  function StorageFailed(cause) {
    this.name = "StorageFailed";
    this.message = (cause && (cause.name + ": " + cause.message)) || "IndexedDB is not available";
    this.cause = cause;
  }
  StorageFailed.prototype = Object.create(Error.prototype);

  function open() {
    if (opening) return opening;
    opening = new Promise(function (resolve, reject) {
      if (!root.indexedDB || wiped) { reject(new StorageFailed()); return; }
      var request;
      try {
        request = root.indexedDB.open(DB_NAME, DB_VERSION);
      } catch (err) {
        reject(new StorageFailed(err));
        return;
      }
      request.onupgradeneeded = function () {
        var db = request.result;
        if (!db.objectStoreNames.contains("outbox")) {
          var outbox = db.createObjectStore("outbox", { keyPath: "id" });
          outbox.createIndex("saved_at", "saved_at");
        }
        if (!db.objectStoreNames.contains("sent")) {
          db.createObjectStore("sent", { keyPath: "id" }).createIndex("acked_at", "acked_at");
        }
        if (!db.objectStoreNames.contains("copies")) {
          db.createObjectStore("copies", { keyPath: "id" }).createIndex("deployment_id", "deployment_id");
        }
        if (!db.objectStoreNames.contains("meta")) db.createObjectStore("meta", { keyPath: "key" });
      };
      request.onsuccess = function () {
        var db = request.result;
        // Another tab or a new worker upgrading the schema: let it, and reopen next time.
        db.onversionchange = function () { db.close(); opening = null; };
        resolve(db);
      };
      request.onerror = function () { opening = null; reject(new StorageFailed(request.error)); };
      request.onblocked = function () { /* an old tab holds it open; onsuccess follows when it closes */ };
    });
    return opening;
  }

  // Run fn(stores...) in one transaction; resolves with fn's result once the transaction committed.
  function transaction(names, mode, fn) {
    return open().then(function (db) {
      return new Promise(function (resolve, reject) {
        var tx;
        try {
          tx = db.transaction(names, mode, { durability: "strict" });
        } catch (err) {
          opening = null;
          reject(new StorageFailed(err));
          return;
        }
        var result;
        tx.oncomplete = function () { resolve(result); };
        tx.onabort = tx.onerror = function () { reject(new StorageFailed(tx.error)); };
        try {
          result = fn.apply(null, names.map(function (name) { return tx.objectStore(name); }));
        } catch (err) {
          try { tx.abort(); } catch (ignored) { /* already finished */ }
          reject(new StorageFailed(err));
        }
      });
    });
  }

  function all(source, query) {
    var box = { value: [] };
    var request = query === undefined ? source.getAll() : source.getAll(query);
    request.onsuccess = function () { box.value = request.result; };
    return box;
  }

  function one(store, key) {
    var box = { value: undefined };
    var request = store.get(key);
    request.onsuccess = function () { box.value = request.result; };
    return box;
  }

  // The single place where a record becomes what is stored, and back: the values are sealed (below) before the
  // record reaches a transaction; a stored record is its header and its sealed values, nothing to undo.
  function seal(entry) { return entry; }
  function unseal(stored) { return stored; }

  // --- Sealing (WebCrypto). The format is fieldapp/offline/sealing.py's: change both together. ---
  var subtle = root.crypto && root.crypto.subtle;
  var encoder = root.TextEncoder ? new root.TextEncoder() : null;
  var SEAL_INFO = "fieldapp outbox v1";
  var serverKeys = {};

  function b64(buffer) {
    var bytes = new Uint8Array(buffer);
    var binary = "";
    for (var i = 0; i < bytes.length; i++) binary += String.fromCharCode(bytes[i]);
    return root.btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function unb64(text) {
    var binary = root.atob(text.replace(/-/g, "+").replace(/_/g, "/"));
    var bytes = new Uint8Array(binary.length);
    for (var i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
    return bytes;
  }

  // Blank values mean "not given" to the server: they are left out of what is sealed (as of what is sent).
  function given(values) {
    var out = {};
    Object.keys(values || {}).forEach(function (name) { if (values[name] !== "") out[name] = values[name]; });
    return out;
  }

  function sealable(entry) {
    return entry.kind !== "presence" && !entry.sealed && Object.keys(given(entry.values)).length > 0;
  }

  function serverKey(published) {
    if (!serverKeys[published.kid]) {
      serverKeys[published.kid] = subtle.importKey("raw", unb64(published.key), { name: "ECDH", namedCurve: "P-256" },
                                                   false, []);
    }
    return serverKeys[published.kid];
  }

  /* values -> {v, kid, epk, iv, ct}: only the server's private key opens it. */
  function sealValues(published, values, user) {
    var iv = root.crypto.getRandomValues(new Uint8Array(12));
    var epk = null;
    return Promise.all([
      serverKey(published),
      subtle.generateKey({ name: "ECDH", namedCurve: "P-256" }, false, ["deriveBits"])
    ]).then(function (keys) {
      return Promise.all([subtle.deriveBits({ name: "ECDH", public: keys[0] }, keys[1].privateKey, 256),
                          subtle.exportKey("raw", keys[1].publicKey)]);
    }).then(function (derived) {
      epk = new Uint8Array(derived[1]);
      return subtle.importKey("raw", derived[0], "HKDF", false, ["deriveKey"]);
    }).then(function (shared) {
      return subtle.deriveKey({ name: "HKDF", hash: "SHA-256", salt: epk, info: encoder.encode(SEAL_INFO) }, shared,
                              { name: "AES-GCM", length: 256 }, false, ["encrypt"]);
    }).then(function (aes) {
      var bound = encoder.encode("fieldapp-outbox/1|" + published.kid + "|" + user);
      return subtle.encrypt({ name: "AES-GCM", iv: iv, additionalData: bound }, aes,
                            encoder.encode(JSON.stringify(given(values))));
    }).then(function (ct) {
      return { v: 1, kid: published.kid, epk: b64(epk), iv: b64(iv), ct: b64(ct) };
    });
  }

  function sealKey() {
    if (!subtle || !encoder) return Promise.resolve(null);
    return transaction(["meta"], "readonly", function (meta) { return one(meta, "seal_key"); })
      .then(function (box) { return box.value ? box.value.value : null; });
  }

  // The entry with its values sealed (when this device has the server's key), ready to be stored.
  function sealed(entry) {
    if (!sealable(entry)) return Promise.resolve(entry);
    return sealKey().then(function (published) {
      if (!published) return entry;
      return sealValues(published, entry.values, entry.user).then(function (envelope) {
        entry.sealed = envelope;
        entry.values = {};
        return entry;
      });
    });
  }

  // UUIDv7: 48-bit Unix time in ms, version 7, 12 + 62 random bits, variant 10.
  function newId() {
    var bytes = new Uint8Array(16);
    root.crypto.getRandomValues(bytes);
    var ms = Date.now();
    for (var i = 5; i >= 0; i--) { bytes[i] = ms % 256; ms = Math.floor(ms / 256); }
    bytes[6] = (bytes[6] & 0x0f) | 0x70;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    var hex = Array.prototype.map.call(bytes, function (b) { return (b + 0x100).toString(16).slice(1); }).join("");
    return hex.slice(0, 8) + "-" + hex.slice(8, 12) + "-" + hex.slice(12, 16) + "-" + hex.slice(16, 20) + "-" + hex.slice(20);
  }

  function byAge(a, b) {
    return a.saved_at === b.saved_at ? (a.id < b.id ? -1 : 1) : a.saved_at - b.saved_at;
  }

  // Kinds kept in the outbox that are not field records: each is sent to its own address (sync-client.js).
  var SIDE_KINDS = ["presence", "feedback"];

  var Outbox = {
    StorageFailed: StorageFailed,
    newId: newId,

    /* Keep a record on this device, its values sealed. entry: {id, kind, deployment_id, values, base_version,
       device_time, user, ref}; ref: an id the record is about, kept unsealed (the follow-up of a feedback action). Saving the same id again replaces it (a double tap stays one record). Resolves with what
       is stored: `values` is empty and `sealed` holds them once sealed. */
    save: function (entry) {
      var stored = {
        id: entry.id, kind: entry.kind, deployment_id: entry.deployment_id, values: entry.values || {},
        base_version: entry.base_version == null ? null : entry.base_version,
        device_time: entry.device_time || new Date().toISOString(), user: entry.user || "",
        resolves: entry.resolves == null ? null : entry.resolves, ref: entry.ref == null ? null : entry.ref,
        saved_at: entry.saved_at || Date.now(), state: "waiting", result: null
      };
      return sealed(stored).then(function (ready) {
        return transaction(["outbox"], "readwrite", function (outbox) { outbox.put(seal(ready)); });
      }).then(function () { return stored; });
    },

    get: function (id) {
      return transaction(["outbox"], "readonly", function (outbox) { return one(outbox, id); })
        .then(function (box) { return box.value ? unseal(box.value) : null; });
    },

    /* Everything in the outbox, oldest first. */
    list: function () {
      return transaction(["outbox"], "readonly", function (outbox) { return all(outbox); })
        .then(function (box) { return box.value.map(unseal).sort(byAge); });
    },

    /* The oldest records of this user that wait to be sent (set-aside ones never block them); side: instead the
       entries of one kind that go to their own address ("presence": check-in and check-out taps, true meaning
       the same; "feedback": feedback given on a follow-up). */
    waiting: function (user, limit, side) {
      var kind = side === true ? "presence" : (side || null);
      return Outbox.list().then(function (entries) {
        return entries.filter(function (e) {
          return e.state === "waiting" && e.user === user &&
            (kind ? e.kind === kind : SIDE_KINDS.indexOf(e.kind) < 0);
        }).slice(0, limit || 100);
      });
    },

    counts: function (user) {
      return Outbox.list().then(function (entries) {
        var counts = { waiting: 0, attention: 0, other_users: 0 };
        entries.forEach(function (e) {
          if (user && e.user !== user) counts.other_users += 1;
          else if (e.state === "waiting") counts.waiting += 1;
          else counts.attention += 1;
        });
        return counts;
      });
    },

    /* Apply the server's answers: acknowledged records leave the outbox (their receipt is kept in
       "sent"), rejected and conflicting ones are set aside with the reason. One transaction. */
    applyResults: function (results) {
      var now = Date.now();
      return transaction(["outbox", "sent"], "readwrite", function (outbox, sent) {
        results.forEach(function (result) {
          var request = outbox.get(result.id);
          request.onsuccess = function () {
            if (!request.result) return;  // another sender got here first
            var entry = unseal(request.result);
            if (result.status === "accepted" || result.status === "duplicate") {
              sent.put({ id: entry.id, kind: entry.kind, deployment_id: entry.deployment_id, user: entry.user,
                         saved_at: entry.saved_at, device_time: entry.device_time, acked_at: now,
                         status: result.status, version: result.version, received_at: result.received_at,
                         values: entry.sealed ? {} : entry.values });
              outbox.delete(entry.id);
            } else if (result.status === "rejected" || result.status === "conflict") {
              entry.state = result.status;
              entry.result = result;
              outbox.put(seal(entry));
            }
          };
        });
      }).then(function () { return Outbox.trimSent(); });
    },

    trimSent: function () {
      return transaction(["sent"], "readwrite", function (sent) {
        var request = sent.index("acked_at").openKeyCursor(null, "prev");
        var seen = 0;
        request.onsuccess = function () {
          var cursor = request.result;
          if (!cursor) return;
          seen += 1;
          if (seen > SENT_KEPT) sent.delete(cursor.primaryKey);
          cursor.continue();
        };
      });
    },

    /* Receipts of acknowledged records, newest first. */
    sent: function (limit) {
      return transaction(["sent"], "readonly", function (sent) { return all(sent); }).then(function (box) {
        return box.value.sort(function (a, b) { return b.acked_at - a.acked_at; }).slice(0, limit || 50);
      });
    },

    wasSent: function (id) {
      return transaction(["sent"], "readonly", function (sent) { return one(sent, id); })
        .then(function (box) { return box.value || null; });
    },

    /* Put a set-aside record back in the queue (after the officer fixed it), optionally changed. */
    requeue: function (id, changes) {
      return transaction(["outbox"], "readwrite", function (outbox) {
        var request = outbox.get(id);
        request.onsuccess = function () {
          if (!request.result) return;
          var entry = unseal(request.result);
          Object.keys(changes || {}).forEach(function (key) { entry[key] = changes[key]; });
          entry.state = "waiting";
          entry.result = null;
          outbox.put(seal(entry));
        };
      });
    },

    /* Store a set-aside record again under a fresh id (and drop the old entry), in one transaction. */
    saveAsNew: function (id, changes) {
      var fresh = null;
      return transaction(["outbox"], "readwrite", function (outbox) {
        var request = outbox.get(id);
        request.onsuccess = function () {
          if (!request.result) return;
          fresh = unseal(request.result);
          Object.keys(changes || {}).forEach(function (key) { fresh[key] = changes[key]; });
          fresh.id = newId();
          fresh.base_version = null;
          fresh.state = "waiting";
          fresh.result = null;
          fresh.saved_at = Date.now();
          outbox.put(seal(fresh));
          outbox.delete(id);
        };
      }).then(function () { return fresh; });
    },

    /* Remove a record the officer chose to drop (never called for unacknowledged records otherwise). */
    discard: function (id) {
      return transaction(["outbox"], "readwrite", function (outbox) { outbox.delete(id); });
    },

    /* Records pulled from the server: stored or replaced by id, deleted ones removed. */
    putCopies: function (pulled) {
      if (!pulled || !pulled.length) return Promise.resolve(0);
      return transaction(["copies"], "readwrite", function (copies) {
        pulled.forEach(function (item) {
          if (item.deleted) copies.delete(item.id);
          else copies.put({ id: item.id, kind: item.kind, deployment_id: item.deployment_id, version: item.version,
                            record: item.record });
        });
        return pulled.length;
      });
    },

    copiesFor: function (deploymentId) {
      return transaction(["copies"], "readonly", function (copies) {
        return all(copies.index("deployment_id"), deploymentId);
      }).then(function (box) { return box.value; });
    },

    /* The server's outbox key ({kid, alg, key}), from the bootstrap or /api/offline/seal-key. */
    setSealKey: function (published) {
      if (!published || !published.kid || !published.key) return Promise.resolve();
      return Outbox.setMeta("seal_key", { kid: published.kid, alg: published.alg, key: published.key });
    },

    /* Seal what waits unsealed (saved before this device had the server's key). Resolves with how many. */
    sealWaiting: function () {
      return sealKey().then(function (published) {
        if (!published) return 0;
        return Outbox.list().then(function (entries) {
          return Promise.all(entries.filter(sealable).map(function (entry) {
            return sealValues(published, entry.values, entry.user).then(function (envelope) {
              return { id: entry.id, sealed: envelope, was: JSON.stringify(entry.values) };
            });
          }));
        }).then(function (done) {
          if (!done.length) return 0;
          return transaction(["outbox"], "readwrite", function (outbox) {
            done.forEach(function (item) {
              var request = outbox.get(item.id);
              request.onsuccess = function () {
                var current = request.result;
                // Replaced meanwhile (saved again, sealed by another tab): that version stands.
                if (!current || current.sealed || JSON.stringify(current.values) !== item.was) return;
                current.sealed = item.sealed;
                current.values = {};
                outbox.put(seal(current));
              };
            });
            return done.length;
          });
        });
      });
    },

    getMeta: function (key) {
      return transaction(["meta"], "readonly", function (meta) { return one(meta, key); })
        .then(function (box) { return box.value ? box.value.value : undefined; });
    },

    setMeta: function (key, value) {
      return transaction(["meta"], "readwrite", function (meta) { meta.put({ key: key, value: value }); });
    },

    /* On log out: forget the copies of the server's data (the outbox itself is kept: nothing is lost). */
    forgetCopies: function () {
      return transaction(["copies", "meta"], "readwrite", function (copies, meta) {
        copies.clear();
        ["bootstrap", "cursor", "session", "pull_etag"].forEach(function (key) { meta.delete(key); });
      });
    },

    /* Issue 12, bounded copies: keep only the copies of these deployments (null: any) whose record happened at
       or after `since` (an ISO time; null: any). Resolves with how many were deleted. */
    pruneCopies: function (keepIds, since) {
      var dropped = { value: 0 };
      return transaction(["copies"], "readwrite", function (copies) {
        var request = copies.openCursor();
        request.onsuccess = function () {
          var cursor = request.result;
          if (!cursor) return;
          var copy = cursor.value || {};
          var record = copy.record || {};
          var inWindow = !keepIds || keepIds.indexOf(copy.deployment_id) >= 0;
          var recent = !since || !record.occurred_at || record.occurred_at >= since;
          if (!inWindow || !recent) { cursor.delete(); dropped.value += 1; }
          cursor.continue();
        };
      }).then(function () { return dropped.value; });
    },

    /* Issue 12, a revoked device: delete every IndexedDB database of this origin, the outbox included, and
       refuse to create one again in this page or worker. Resolves with the names deleted. */
    wipeDevice: function () {
      var idb = root.indexedDB;
      wiped = true;
      if (!idb) return Promise.resolve([]);
      var closing = opening ? opening.then(function (db) { db.close(); }, function () { return null; }) : Promise.resolve();
      opening = null;
      return closing.then(function () {
        if (!idb.databases) return [DB_NAME];
        return idb.databases().then(function (list) {
          var names = list.map(function (d) { return d.name; });
          return names.indexOf(DB_NAME) >= 0 ? names : names.concat([DB_NAME]);
        }, function () { return [DB_NAME]; });
      }).then(function (names) {
        return Promise.all(names.map(function (name) {
          return new Promise(function (resolve) {
            var request = idb.deleteDatabase(name);
            request.onsuccess = request.onerror = function () { resolve(name); };
            // onblocked: another tab or the worker still holds it; their onversionchange closes it, then success.
          });
        }));
      });
    },

    /* Ask the browser not to evict this device's data under storage pressure. */
    persist: function () {
      var storage = root.navigator && root.navigator.storage;
      if (!storage || !storage.persist) return Promise.resolve(false);
      return storage.persisted().then(function (already) { return already || storage.persist(); })
        .catch(function () { return false; });
    }
  };

  root.FieldappOutbox = Outbox;
})(self);
