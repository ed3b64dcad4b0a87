// The tablet's durable queue (IndexedDB): operations waiting to reach the server, and a little key/value store for
// what the page needs after a reload without the network (the device's sequence, each visit's last chart).
// The sequence is taken and the operation stored in ONE transaction, so a crash can never reuse a sequence number
// for a different operation (the server would refuse it: chart_sequence_conflict).
(() => {
  "use strict";

  const DB = "medspa-tablet", VERSION = 1;
  let opening = null;

  function open() {
    if (opening) return opening;
    opening = new Promise((resolve, reject) => {
      const req = indexedDB.open(DB, VERSION);
      req.onupgradeneeded = () => {
        const db = req.result;
        const ops = db.createObjectStore("ops", { keyPath: "operationId" });
        ops.createIndex("byVisit", "visitId");
        db.createObjectStore("kv", { keyPath: "key" });
      };
      req.onsuccess = () => resolve(req.result);
      req.onerror = () => { opening = null; reject(req.error); };
    });
    return opening;
  }

  function done(tx) {
    return new Promise((resolve, reject) => {
      tx.oncomplete = () => resolve();
      tx.onerror = () => reject(tx.error);
      tx.onabort = () => reject(tx.error || new Error("IndexedDB transaction aborted"));
    });
  }

  function request(req) {
    return new Promise((resolve, reject) => { req.onsuccess = () => resolve(req.result); req.onerror = () => reject(req.error); });
  }

  /** Stores op (for visitId) with the device's next sequence number; answers the stored operation. */
  async function enqueue(visitId, op) {
    const db = await open();
    const tx = db.transaction(["ops", "kv"], "readwrite");
    const kv = tx.objectStore("kv");
    const stored = {};
    kv.get("sequence").onsuccess = (e) => {
      const sequence = ((e.target.result && e.target.result.value) || 0) + 1;
      kv.put({ key: "sequence", value: sequence });
      Object.assign(stored, op, { visitId, sequence });
      tx.objectStore("ops").put(stored);
    };
    await done(tx);
    return stored;
  }

  /** The operations still queued for a visit, in the order they were made. */
  async function pending(visitId) {
    const db = await open();
    const tx = db.transaction("ops", "readonly");
    const list = await request(tx.objectStore("ops").index("byVisit").getAll(visitId));
    return list.sort((a, b) => a.sequence - b.sequence);
  }

  /** Rewrites a queued operation in place (same id and sequence): a photo's upload answered, its bytes dropped. */
  async function put(op) {
    const db = await open();
    const tx = db.transaction("ops", "readwrite");
    tx.objectStore("ops").put(op);
    await done(tx);
  }

  async function count() {
    const db = await open();
    return request(db.transaction("ops", "readonly").objectStore("ops").count());
  }

  async function remove(operationIds) {
    if (!operationIds.length) return;
    const db = await open();
    const tx = db.transaction("ops", "readwrite");
    for (const id of operationIds) tx.objectStore("ops").delete(id);
    await done(tx);
  }

  async function get(key) {
    const db = await open();
    const row = await request(db.transaction("kv", "readonly").objectStore("kv").get(key));
    return row ? row.value : undefined;
  }

  async function set(key, value) {
    const db = await open();
    const tx = db.transaction("kv", "readwrite");
    tx.objectStore("kv").put({ key, value });
    await done(tx);
  }

  window.medspaQueue = { enqueue, pending, put, count, remove, get, set };
})();
