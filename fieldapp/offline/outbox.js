/* fieldapp outbox: the ONLY module that reads or writes this device's IndexedDB.
 *
 * Loaded by every page and joined into the service worker (/sw.js), so both use the same code.
 * Stores:  outbox  records saved on this device, until the server acknowledged them
 *          sent    receipts of acknowledged records (the "safe on server" list, newest kept)
 *          copies  records of the user's deployments pulled from the server (colleagues' too)
 *          meta    small values: cursor, last sync, bootstrap data, session
 * A later issue encrypts records at save time: that change belongs in seal() and unseal() only.
 */
(function (root) {
  "use strict";

  var DB_NAME = "fieldapp";
  var DB_VERSION = 1;
  var SENT_KEPT = 200;
  var opening = null;

  function StorageFailed(cause) {
    this.name = "StorageFailed";
    this.message = (cause && (cause.name + ": " + cause.message)) || "IndexedDB is not available";
    this.cause = cause;
  }
  StorageFailed.prototype = Object.create(Error.prototype);

  function open() {
    if (opening) return opening;
    opening = new Promise(function (resolve, reject) {
      if (!root.indexedDB) { reject(new StorageFailed()); return; }
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

  // The single place where a record becomes what is stored, and back (encryption goes here).
  function seal(entry) { return entry; }
  function unseal(stored) { return stored; }

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

    /* Keep a record on this device. entry: {id, kind, deployment_id, values, base_version, device_time, user}.
       Saving the same id again replaces it (a double tap stays one record). */
    save: function (entry) {
      var stored = {
        id: entry.id, kind: entry.kind, deployment_id: entry.deployment_id, values: entry.values || {},
        base_version: entry.base_version == null ? null : entry.base_version,
        device_time: entry.device_time || new Date().toISOString(), user: entry.user || "",
        resolves: entry.resolves == null ? null : entry.resolves,
        saved_at: entry.saved_at || Date.now(), state: "waiting", result: null
      };
      return transaction(["outbox"], "readwrite", function (outbox) {
        outbox.put(seal(stored));
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
                         values: entry.values });
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
        ["bootstrap", "cursor", "session"].forEach(function (key) { meta.delete(key); });
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
