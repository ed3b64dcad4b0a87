// Provider tablet (issue 17 §2): sign in, today's visits, a face chart, SOAP notes, photos and signing. Every change
// is an operation (client id, device id, per-device sequence, Lamport clock) stored in IndexedDB first (queue.js) and
// sent when the tablet can: over the clinic hub (ApplyChartOperations) when it is connected, else the batch endpoint.
// A resend is harmless (the server knows each operation id), so the queue is emptied only by an answer, never on send.
(() => {
  "use strict";

  const Q = window.medspaQueue;
  const $ = (id) => document.getElementById(id);

  // The signature pads (the patient's consent, the chart's signature) are one template (index.html), copied in place
  // of each data-signature-pad slot before anything looks them up: <name>-pad, <name>-clear, <name>-status, and the
  // action button with the slot's id and label.
  for (const slot of document.querySelectorAll("[data-signature-pad]")) {
    const name = slot.dataset.signaturePad;
    const pad = $("signature-pad").content.cloneNode(true);
    pad.querySelector("canvas").id = name + "-pad";
    pad.querySelector("[data-part=clear]").id = name + "-clear";
    const action = pad.querySelector("[data-part=action]");
    action.id = slot.dataset.actionId;
    action.textContent = slot.dataset.actionLabel;
    pad.querySelector("[data-part=status]").id = name + "-status";
    slot.replaceWith(pad);
  }
  const BATCH = 200;
  const ZONE_SPOTS = {
    "forehead": [50, 18], "glabella": [50, 31], "crow's feet left": [24, 41], "crow's feet right": [76, 41],
    "bunny lines": [50, 47], "nasalis": [45, 53], "upper lip": [50, 67], "lower lip": [50, 76], "chin": [50, 86],
    "marionette left": [40, 79], "marionette right": [60, 79], "masseter left": [22, 68], "masseter right": [78, 68],
    "neck/platysma": [50, 97], "nasolabial left": [41, 64], "nasolabial right": [59, 64], "cheek left": [30, 55],
    "cheek right": [70, 55], "jawline left": [28, 80], "jawline right": [72, 80], "temple left": [20, 30],
    "temple right": [80, 30], "tear trough left": [38, 47], "tear trough right": [62, 47], "nose": [50, 58],
  };

  const session = load("medspa.tablet.session") || {};
  const s = {
    visitId: null, visit: null, chart: null, serverClock: 0, syncVersion: 0, pendingOps: [], pendingCount: 0,
    zones: [], lots: [], tz: null, selected: null, draft: null, moving: false, flushing: false, again: false, retryTimer: null,
  };
  let connection = null;

  const deviceId = (() => {
    let id = localStorage.getItem("medspa.tablet.device");
    if (!id) { id = "tablet-" + uuid().slice(0, 12); localStorage.setItem("medspa.tablet.device", id); }
    return id;
  })();

  function uuid() {
    if (crypto.randomUUID) return crypto.randomUUID();
    const b = crypto.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 0x0f) | 0x40; b[8] = (b[8] & 0x3f) | 0x80;
    const h = [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
  }
  function load(key) { try { return JSON.parse(sessionStorage.getItem(key)); } catch { return null; } }
  function save(key, value) { sessionStorage.setItem(key, JSON.stringify(value)); }
  function online() { return navigator.onLine !== false; }
  function say(text) { $("message").textContent = text || ""; }

  // ---- HTTP ----------------------------------------------------------------------------------------------------------
  async function call(method, url, body, retried, extraHeaders) {
    const headers = { ...(extraHeaders || {}) };
    if (session.token) headers.Authorization = "Bearer " + session.token;
    let payload = body;
    if (body !== undefined && !(body instanceof FormData)) { headers["Content-Type"] = "application/json"; payload = JSON.stringify(body); }
    const res = await fetch(url, { method, headers, body: payload });
    if (res.status === 401 && !retried && session.refreshToken) {
      await refresh();
      return call(method, url, body, true, extraHeaders);
    }
    const json = await res.json().catch(() => ({}));
    if (!res.ok) {
      const err = new Error(json.detail || json.title || "HTTP " + res.status);
      err.status = res.status; err.code = json.code; err.field = json.field;
      throw err;
    }
    return json;
  }

  async function refresh() {
    const res = await fetch("/api/auth/refresh", { method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ refreshToken: session.refreshToken }) });
    if (!res.ok) { signedOut("Your session has ended. Sign in again."); throw Object.assign(new Error("signed out"), { status: 401 }); }
    const r = await res.json();
    session.token = r.accessToken; session.refreshToken = r.refreshToken;
    save("medspa.tablet.session", session);
  }

  function signedOut(text) {
    sessionStorage.removeItem("medspa.tablet.session");
    for (const k of Object.keys(session)) delete session[k];
    if (connection) connection.stop().catch(() => {});
    show("signin");
    $("signin-error").textContent = text || "";
  }

  // ---- screens -------------------------------------------------------------------------------------------------------
  function show(which) {
    $("signin").hidden = which !== "signin";
    $("visits").hidden = which !== "visits";
    $("chart").hidden = which !== "chart";
    $("back").hidden = which !== "chart";
  }

  $("signin").addEventListener("submit", async (e) => {
    e.preventDefault();
    $("signin-error").textContent = "";
    try {
      const r = await call("POST", "/api/auth/login",
        { email: $("email").value, password: $("password").value, device: { id: deviceId, name: "Charting tablet" } });
      session.token = r.accessToken; session.refreshToken = r.refreshToken;
      session.userId = r.user && r.user.id;
      session.clinicId = new URLSearchParams(location.search).get("clinic") || (r.user && r.user.clinicIds && r.user.clinicIds[0]);
      if (!session.clinicId) throw new Error("This account is not assigned to a clinic; open /tablet?clinic=ID.");
      save("medspa.tablet.session", session);
      await started();
    } catch (err) {
      $("signin-error").textContent = err.message;
    }
  });

  $("back").addEventListener("click", () => { location.hash = ""; s.visitId = null; showVisits(); });

  async function started() {
    connect();
    await loadClinic();
    const wanted = new URLSearchParams(location.hash.slice(1)).get("visit");
    if (wanted) await openVisit(wanted); else await showVisits();
  }

  // What the chart needs from the clinic, kept for a reload without the network.
  async function loadClinic() {
    const c = session.clinicId;
    const [clinic, zones, lots] = await Promise.all([
      cached("clinic:" + c, () => call("GET", `/api/clinics/${c}`)),
      cached("zones:" + c, () => call("GET", `/api/clinics/${c}/chart-zones`)),
      cached("lots:" + c, () => call("GET", `/api/inventory/lots?clinicId=${c}&status=available`)),
    ]);
    s.tz = clinic && clinic.timeZone;
    $("title").textContent = clinic && clinic.name ? "Charting · " + clinic.name : "Charting";
    s.zones = zones || [];
    const today = new Date().toISOString().slice(0, 10);
    s.lots = (lots || []).filter((l) => String(l.expiresOn) >= today && Number(l.quantityOnHand) > 0);
    $("zone").replaceChildren(...s.zones.map((z) => new Option(z.name, z.name)));
    $("lot").replaceChildren(...s.lots.map((l) => new Option(`${l.productName} · lot ${l.lotNumber} · exp ${l.expiresOn}`, l.productId + "|" + l.lotNumber)));
  }

  async function cached(key, read) {
    if (online()) {
      try { const v = await read(); await Q.set(key, v); return v; } catch (err) { if (err.status === 401) throw err; }
    }
    return Q.get(key);
  }

  function clinicDay(date) {
    try {
      return new Intl.DateTimeFormat("en-CA", { timeZone: s.tz || undefined, year: "numeric", month: "2-digit", day: "2-digit" }).format(date);
    } catch { return date.toISOString().slice(0, 10); }
  }
  function clinicTime(iso) {
    try { return new Intl.DateTimeFormat("en-US", { timeZone: s.tz || undefined, hour: "numeric", minute: "2-digit" }).format(new Date(iso)); }
    catch { return iso; }
  }

  async function showVisits() {
    show("visits");
    const day = clinicDay(new Date());
    $("today").textContent = day;
    const page = await cached(`visits:${session.clinicId}:${day}`,
      () => call("GET", `/api/appointments?clinicId=${session.clinicId}&date=${day}&mine=true&pageSize=100`));
    const items = ((page && page.items) || []).filter((a) => a.status !== "cancelled" && a.status !== "no-show")
      .sort((a, b) => new Date(a.start) - new Date(b.start));
    $("no-visits").hidden = items.length > 0;
    const names = await Promise.all(items.map((a) => patientName(a.patientId)));
    items.forEach((a, i) => { a.patientName = names[i]; });
    await Q.set("visit-titles", Object.fromEntries(items.map((a) => [a.id, `${clinicTime(a.start)} · ${a.patientName}`])));
    $("visit-list").replaceChildren(...items.map((a) => {
      const li = document.createElement("li");
      const b = document.createElement("button");
      b.type = "button"; b.className = "visit"; b.dataset.visitId = a.id;
      b.innerHTML = `<span class="time"></span><span class="what"></span>`;
      b.querySelector(".time").textContent = clinicTime(a.start);
      b.querySelector(".what").textContent = `${a.patientName} · ${a.durationMinutes} min · ${a.status}`;
      b.addEventListener("click", () => { location.hash = "visit=" + a.id; openVisit(a.id); });
      li.append(b);
      return li;
    }));
  }

  async function patientName(patientId) {
    const p = await cached("patient:" + patientId, () => call("GET", `/api/patients/${patientId}`)).catch(() => null);
    return p ? [p.firstName, p.lastName].filter(Boolean).join(" ") : "Patient";
  }

  // ---- the chart -----------------------------------------------------------------------------------------------------
  async function openVisit(visitId) {
    s.visitId = visitId;
    s.selected = null; s.draft = null; closeEditor();
    show("chart");
    $("visit-title").textContent = ((await Q.get("visit-titles")) || {})[visitId] || "Visit";
    const known = await Q.get("chart:" + visitId);
    if (known) adopt(known, false);
    s.pendingOps = await Q.pending(visitId);
    render();
    if (online()) await pull().catch((err) => say("Could not read the chart: " + err.message));
    await flush();
  }

  // A sync answer (GET .../chart/sync or a batch's): the server's chart, clock and version.
  function adopt(answer, persist = true) {
    if (!answer || !answer.chart || answer.chart.visitId !== s.visitId) return;
    // A pull answered after a newer batch reply (both in flight at once) must not put back the older chart: it would
    // show a change just synced as gone until the next push.
    const older = s.chart && s.chart.visitId === answer.chart.visitId && answer.chart.version < s.chart.version;
    s.serverClock = Math.max(s.serverClock, answer.clock || 0);
    s.syncVersion = Math.max(s.syncVersion, answer.syncVersion || 0);
    if (older) return;
    s.chart = answer.chart;
    s.photos = answer.photos || [];
    if (persist) Q.set("chart:" + s.visitId, { chart: answer.chart, clock: s.serverClock, syncVersion: s.syncVersion, photos: s.photos });
  }

  async function pull() {
    if (!s.visitId) return;
    const visitId = s.visitId;
    const answer = await call("GET", `/api/visits/${visitId}/chart/sync`);
    if (visitId !== s.visitId) return;
    adopt(answer);
    render();
  }

  // The chart as the provider sees it: the server's, with the operations still queued applied on top.
  function view() {
    const chart = s.chart || { points: [], notes: {}, status: "in-progress" };
    const points = new Map(chart.points.map((p) => [p.id, { ...p, pending: false }]));
    const notes = { ...(chart.notes || {}) };
    let signing = false, photos = 0;
    for (const op of s.pendingOps) {
      const p = points.get(op.pointId);
      switch (op.kind) {
        case "add-point":
          points.set(op.pointId, { id: op.pointId, zone: op.zone, x: op.x, y: op.y, productId: op.productId, lotNumber: op.lotNumber,
            productName: productName(op.productId), units: op.units, volumeMl: op.volumeMl, notes: op.notes, pending: true });
          break;
        case "move-point": if (p) Object.assign(p, { x: op.x, y: op.y, pending: true }); break;
        case "update-point":
          if (p) {
            for (const k of ["zone", "productId", "lotNumber", "units", "volumeMl", "notes"]) if (op[k] !== undefined) p[k] = op[k];
            for (const k of op.clear || []) p[k] = null;
            p.pending = true;
          }
          break;
        case "remove-point": points.delete(op.pointId); break;
        case "set-note-field": notes[op.field] = op.value; break;
        case "sign": signing = true; break;
        case "attach-photo": photos++; break;
        default: break;
      }
    }
    return { status: chart.status, points: [...points.values()], notes, signing, pendingPhotos: photos };
  }

  function productName(productId) { const l = s.lots.find((x) => x.productId === productId); return l ? l.productName : ""; }

  const SVG = "http://www.w3.org/2000/svg";
  function render() {
    const v = view();
    $("chart-status").textContent = v.status + (s.chart ? ` · version ${s.chart.version}` : "");
    $("chart").dataset.status = v.status;
    const g = $("points");
    g.replaceChildren(...v.points.map((p, i) => {
      const c = document.createElementNS(SVG, "circle");
      c.setAttribute("cx", p.x); c.setAttribute("cy", p.y); c.setAttribute("r", 2.2);
      c.setAttribute("class", "point" + (p.pending ? " pending" : "") + (s.selected === p.id ? " selected" : ""));
      c.dataset.pointId = p.id; c.dataset.zone = p.zone;
      const t = document.createElementNS(SVG, "title");
      t.textContent = `${i + 1}. ${p.zone}: ${p.units != null ? p.units + " u" : (p.volumeMl ?? "") + " ml"} ${p.productName || ""} ${p.lotNumber}`;
      c.append(t);
      return c;
    }));
    $("points").dataset.count = String(v.points.length);
    for (const ta of document.querySelectorAll(".notes textarea")) {
      if (document.activeElement !== ta) ta.value = v.notes[ta.dataset.field] || "";
    }
    const labels = s.zones.filter((z) => ZONE_SPOTS[z.name]).map((z) => {
      const t = document.createElementNS(SVG, "text");
      t.setAttribute("x", ZONE_SPOTS[z.name][0]); t.setAttribute("y", ZONE_SPOTS[z.name][1] + 3.5);
      t.setAttribute("text-anchor", "middle"); t.setAttribute("class", "zone-label");
      t.textContent = z.name;
      return t;
    });
    $("zone-labels").replaceChildren(...labels);
    $("photo-count").textContent = String((s.photos || []).length + v.pendingPhotos);
    $("photo-count").dataset.pending = String(v.pendingPhotos);
    const signed = v.status === "signed" || v.status === "pending-review";
    const frozen = signed || v.signing;
    $("sign").disabled = frozen;
    $("sign-pad").dataset.frozen = String(frozen);
    $("consent-sign").disabled = frozen;
    $("chart").dataset.frozen = String(frozen);
    for (const ta of document.querySelectorAll(".notes textarea")) ta.readOnly = frozen;
    if (signed) $("sign-status").textContent = v.status === "signed" ? "Signed." : "Signed; awaiting co-signature.";
  }

  function nearestZone(x, y) {
    let best = null, bestD = Infinity;
    for (const z of s.zones) {
      const spot = ZONE_SPOTS[z.name];
      if (!spot) continue;
      const d = (spot[0] - x) ** 2 + (spot[1] - y) ** 2;
      if (d < bestD) { bestD = d; best = z; }
    }
    return best || s.zones[0];
  }

  function pointFromEvent(e) {
    const svg = $("face");
    const pt = svg.createSVGPoint();
    pt.x = e.clientX; pt.y = e.clientY;
    const p = pt.matrixTransform(svg.getScreenCTM().inverse());
    const clamp = (n) => Math.round(Math.min(100, Math.max(0, n)) * 100) / 100;
    return { x: clamp(p.x), y: clamp(p.y) };
  }

  $("face").addEventListener("pointerup", async (e) => {
    if (!s.visitId || $("chart").dataset.frozen === "true") return;
    const target = e.target.closest && e.target.closest(".point");
    const { x, y } = pointFromEvent(e);
    if (s.moving && s.selected) {
      s.moving = false;
      await record({ kind: "move-point", pointId: s.selected, x, y });
      closeEditor();
      return;
    }
    if (target) { openEditor(view().points.find((p) => p.id === target.dataset.pointId)); return; }
    const zone = nearestZone(x, y);
    s.selected = null;
    s.draft = { x, y };
    const d = $("draft");
    d.setAttribute("cx", x); d.setAttribute("cy", y); d.hidden = false;
    $("editor-title").textContent = "New point";
    if (zone) $("zone").value = zone.name;
    $("units").value = zone && zone.defaultUnits != null ? zone.defaultUnits : "";
    $("volume").value = zone && zone.defaultVolumeMl != null ? zone.defaultVolumeMl : "";
    $("point-notes").value = "";
    $("move-point").hidden = true; $("remove-point").hidden = true;
    $("editor").hidden = false; $("editor-error").textContent = "";
  });

  function openEditor(p) {
    if (!p) return;
    s.selected = p.id; s.draft = null; $("draft").hidden = true;
    $("editor-title").textContent = "Point · " + p.zone;
    $("zone").value = p.zone;
    $("lot").value = p.productId + "|" + p.lotNumber;
    $("units").value = p.units ?? ""; $("volume").value = p.volumeMl ?? ""; $("point-notes").value = p.notes ?? "";
    $("move-point").hidden = false; $("remove-point").hidden = false;
    $("editor").hidden = false; $("editor-error").textContent = "";
    render();
  }

  function closeEditor() {
    $("editor").hidden = true; $("draft").hidden = true;
    s.draft = null; s.selected = null; s.moving = false;
    $("hint").textContent = "Tap the face to add a point; tap a point to change, move or remove it.";
  }

  function dose() {
    const [productId, lotNumber] = ($("lot").value || "|").split("|");
    const num = (id) => { const t = $(id).value.trim(); return t === "" ? null : Number(t); };
    return { productId, lotNumber, units: num("units"), volumeMl: num("volume") };
  }

  $("editor").addEventListener("submit", async (e) => {
    e.preventDefault();
    const d = dose();
    if (!d.productId) { $("editor-error").textContent = "Choose a product and lot."; return; }
    if (d.units == null && d.volumeMl == null) { $("editor-error").textContent = "Enter units or a volume."; return; }
    const notes = $("point-notes").value.trim();
    if (s.draft) {
      await record({ kind: "add-point", pointId: uuid(), zone: $("zone").value, x: s.draft.x, y: s.draft.y, ...d, notes: notes || null });
    } else if (s.selected) {
      // The dose travels whole; emptied notes are cleared (a null in an update would leave them as they are).
      await record(notes
        ? { kind: "update-point", pointId: s.selected, zone: $("zone").value, ...d, notes }
        : { kind: "update-point", pointId: s.selected, zone: $("zone").value, ...d, clear: ["notes"] });
    }
    closeEditor();
  });
  $("cancel-point").addEventListener("click", closeEditor);
  $("move-point").addEventListener("click", () => { s.moving = true; $("hint").textContent = "Tap where the point goes."; });
  $("remove-point").addEventListener("click", async () => {
    if (s.selected) await record({ kind: "remove-point", pointId: s.selected });
    closeEditor();
  });

  for (const ta of document.querySelectorAll(".notes textarea")) {
    ta.addEventListener("change", () => record({ kind: "set-note-field", field: ta.dataset.field, value: ta.value }));
  }

  // ---- the queue -----------------------------------------------------------------------------------------------------
  async function record(op) {
    if (!s.visitId) return;
    const visitId = s.visitId;
    const known = (await Q.get("clock:" + visitId)) || 0;
    const clock = Math.max(known, s.serverClock) + 1;
    await Q.set("clock:" + visitId, clock);
    await Q.enqueue(visitId, { operationId: uuid(), clock, seenVersion: s.syncVersion, ...op });
    s.pendingOps = await Q.pending(visitId);
    render();
    await status();
    flush();
  }

  function wire(op) {
    const { visitId, upload, ...rest } = op;
    return rest;
  }

  // A photo waits in the queue with its bytes until it is uploaded; the upload carries the photo's own key as its
  // Idempotency-Key, so a resend after a lost answer gets the same photo back rather than a second one. The answer's
  // id is written into the queued attach-photo operation (bytes dropped), which then goes with the next batch.
  // Answers "sent", "retry" (no network, server busy) or "stop" (signed out).
  async function uploadQueued(visitId, op) {
    const u = op.upload;
    const form = new FormData();
    form.append("file", new Blob([u.bytes], { type: u.type || "application/octet-stream" }), u.name || "photo.jpg");
    if (u.zone) form.append("zone", u.zone);
    try {
      $("photo-status").textContent = "Uploading…";
      const photo = await call("POST", `/api/visits/${visitId}/chart/photos`, form, false, { "Idempotency-Key": u.key });
      const { upload, ...rest } = op;
      await Q.put({ ...rest, photoId: photo.id });
      $("photo-status").textContent = "Photo saved.";
      return "sent";
    } catch (err) {
      if (!err.status || err.status >= 500 || err.status === 429) { $("photo-status").textContent = "Photo queued: it uploads when the tablet is online."; return "retry"; }
      if (err.status === 401) return "stop";
      $("photo-status").textContent = err.code === "consent_required" ? "Photo not saved: the patient's photo consent is needed first." : "Photo not saved: " + err.message;
      await Q.remove([op.operationId]);
      return "sent";
    }
  }

  // A patient's consent goes to its own endpoint, with the operation id as its idempotency key (a resend signs once).
  async function consentQueued(visitId, op) {
    const { operationId, purpose, method, typedName, image, signerName, signerRole, guardianRelationship } = op;
    try {
      await call("POST", `/api/visits/${visitId}/chart/consents`,
        { operationId, purpose, method, typedName, image, signerName, signerRole, guardianRelationship });
      $("consent-status").textContent = "Consent recorded.";
    } catch (err) {
      if (!err.status || err.status >= 500 || err.status === 429) return "retry";
      if (err.status === 401) return "stop";
      $("consent-status").textContent = "Consent not recorded: " + err.message;
    }
    await Q.remove([operationId]);
    return "sent";
  }

  const waitsForOwnCall = (o) => o.kind === "consent" || (o.kind === "attach-photo" && !o.photoId);

  // Sends the visit's queue, a batch at a time, until it is empty or the tablet is offline.
  async function flush() {
    if (s.flushing) { s.again = true; return; }
    s.flushing = true;
    try {
      do {
        s.again = false;
        const visitId = s.visitId;
        if (!visitId || !online()) break;
        const ops = await Q.pending(visitId);
        if (ops.length === 0) break;
        await status(true);
        // In queue order: a photo's upload or a consent at the head goes first, on its own call.
        if (waitsForOwnCall(ops[0])) {
          const outcome = ops[0].kind === "consent" ? await consentQueued(visitId, ops[0]) : await uploadQueued(visitId, ops[0]);
          if (outcome === "retry") { retryLater(); break; }
          if (outcome === "stop") break;
          if (visitId === s.visitId) s.pendingOps = await Q.pending(visitId);
          render();
          s.again = true;
          continue;
        }
        // A signature closes its batch: the server signs what came before it. A batch stops before the next upload or consent.
        const signAt = ops.findIndex((o) => o.kind === "sign");
        const ownAt = ops.findIndex(waitsForOwnCall);
        const end = Math.min(signAt >= 0 ? signAt + 1 : BATCH, ownAt >= 0 ? ownAt : BATCH, BATCH);
        const batch = ops.slice(0, end);
        const body = { deviceId, seenVersion: s.syncVersion, operations: batch.map(wire) };
        let reply;
        try {
          reply = await send(visitId, body);
        } catch (err) {
          if (err.status === 401) break;
          retryLater();
          break;
        }

        if (reply.refusal) {
          // The whole batch was refused. Busy or unreachable: later. Anything else will not pass by being resent.
          if (reply.status >= 500 || reply.status === 429) { retryLater(); break; }
          say(`${batch.length} queued change(s) were refused: ${reply.message || reply.code}`);
          await Q.remove(batch.map((o) => o.operationId));
        } else {
          const refused = reply.answer.results.filter((r) => r.outcome === "refused");
          const signature = reply.answer.results.find((r) => batch.some((o) => o.operationId === r.operationId && o.kind === "sign"));
          if (signature) $("sign-status").textContent = signature.outcome === "refused" ? "Not signed: " + signature.message : "Signed.";
          if (refused.length) say(`${refused.length} change(s) refused: ${refused.map((r) => r.message).join("; ")}`);
          if (visitId === s.visitId) adopt(reply.answer);
          await Q.remove(reply.answer.results.map((r) => r.operationId));
        }
        if (visitId === s.visitId) s.pendingOps = await Q.pending(visitId);
        render();
        s.again = true;
      } while (s.again);
    } finally {
      s.flushing = false;
      await status();
    }
  }

  function retryLater() {
    clearTimeout(s.retryTimer);
    s.retryTimer = setTimeout(flush, 2000);
  }

  // Over the hub once it has joined the board (one round trip on the open socket; the pending count was reported on it
  // first, so the provider card shows "syncing"), else the batch endpoint: the same answer.
  async function send(visitId, body) {
    // A drawn signature can make a batch larger than the hub takes in one message (32 KB): such a batch goes over HTTP.
    if (connection && connection.state === signalR.HubConnectionState.Connected && connection.joined && JSON.stringify(body).length < 24000) {
      try {
        const a = await connection.invoke("ApplyChartOperations", visitId, body);
        return a.status === 200 ? { answer: a.answer } : { refusal: true, status: a.status, code: a.code, message: a.message };
      } catch (err) {
        // The socket went away mid-call: the HTTP endpoint gets the same batch (a resend changes nothing).
        if (!online()) throw err;
      }
    }
    try {
      return { answer: await call("POST", `/api/visits/${visitId}/chart/operations`, body) };
    } catch (err) {
      if (err.status && err.status !== 401) return { refusal: true, status: err.status, code: err.code, message: err.message };
      throw err;
    }
  }

  // connected / syncing / offline and the pending count, on the page and on the provider's board card.
  async function status(syncing) {
    s.pendingCount = await Q.count();
    const el = $("sync");
    const state = !online() || !connection || connection.state !== signalR.HubConnectionState.Connected
      ? (online() && (syncing || s.flushing) ? "syncing" : "offline")
      : (syncing || s.flushing || s.pendingCount > 0 ? "syncing" : "connected");
    el.dataset.state = state; el.textContent = state;
    $("pending").textContent = String(s.pendingCount); $("pending").dataset.count = String(s.pendingCount);
    report();
  }

  let reported = -1;
  function report() {
    if (!connection || connection.state !== signalR.HubConnectionState.Connected || !connection.joined) return;
    if (reported === s.pendingCount) return;
    const n = s.pendingCount;
    connection.invoke("ReportSyncState", n).then(() => { reported = n; }).catch(() => {});
  }

  // ---- connection ----------------------------------------------------------------------------------------------------
  function connect() {
    if (connection) return;
    connection = new signalR.HubConnectionBuilder()
      .withUrl("/hubs/clinic?device=" + encodeURIComponent(deviceId), { accessTokenFactory: () => session.token })
      .withAutomaticReconnect({ nextRetryDelayInMilliseconds: (ctx) => Math.min(500 * 2 ** ctx.previousRetryCount, 5000) })
      .withKeepAliveInterval(5000)
      .withServerTimeout(15000)
      .configureLogging(signalR.LogLevel.None)
      .build();
    // Another device (or the desk) changed this visit's chart: read it again.
    connection.on("boardEvent", (e) => {
      if (e && typeof e.event === "string" && e.event.startsWith("treatment.") && e.data && e.data.visitId === s.visitId && online()) {
        pull().catch(() => {});
      }
    });
    for (const name of ["presence", "presenceChanged", "boardResync"]) connection.on(name, () => {});
    connection.onreconnecting(() => { connection.joined = false; status(); });
    connection.onreconnected(() => joined());
    connection.onclose(() => { connection.joined = false; status(); if (online() && session.token) setTimeout(start, 2000); });
    start();
  }

  async function start() {
    if (!connection || !online() || !session.token || connection.state !== signalR.HubConnectionState.Disconnected) return;
    try {
      await connection.start();
      await joined();
    } catch (err) {
      if (/\b401\b|Unauthorized/.test(String(err && err.message)) && session.refreshToken) await refresh().catch(() => {});
      setTimeout(start, 2000);
    }
  }

  async function joined() {
    try {
      await connection.invoke("JoinBoard", session.clinicId, null);
      connection.joined = true;
      reported = -1;
    } catch { connection.joined = false; }
    await status();
    if (s.visitId) { pull().catch(() => {}); flush(); }
  }

  window.addEventListener("offline", () => { if (connection) connection.stop().catch(() => {}); status(); });
  // Back online: the hub first (joined() reports the queue's size, so the provider's card says "syncing N", then
  // flushes); the HTTP endpoint takes the queue if the hub has not joined within a few seconds.
  window.addEventListener("online", () => {
    start();
    status();
    setTimeout(() => { if (!(connection && connection.joined)) flush(); }, 3000);
  });
  // Nothing from the server for a while (a quiet tablet next to a busy one): read the chart again now and then.
  setInterval(() => { if (s.visitId && online() && !s.flushing) pull().catch(() => {}); }, 3000);

  // ---- photos and signing --------------------------------------------------------------------------------------------
  // A photo is queued with its bytes (IndexedDB) like any other change, online or not, and uploaded by flush() in order.
  $("photo").addEventListener("change", async () => {
    const file = $("photo").files[0];
    $("photo").value = "";
    if (!file || !s.visitId) return;
    const bytes = await file.arrayBuffer();
    await record({ kind: "attach-photo", photoId: null,
      upload: { key: uuid(), name: file.name || "photo.jpg", type: file.type || "", zone: $("zone").value || null, bytes } });
    $("photo-status").textContent = online() ? "Uploading…" : "Photo queued: it uploads when the tablet is online.";
  });

  // A signature pad: strokes drawn with a finger, pen or mouse (pointer events), kept at the canvas's own resolution;
  // its PNG (a data URL) is what a drawn signature sends.
  function signaturePad(canvas, clearButton) {
    const ctx = canvas.getContext("2d");
    let last = null, strokes = 0;
    const at = (e) => {
      const r = canvas.getBoundingClientRect();
      return { x: (e.clientX - r.left) * canvas.width / r.width, y: (e.clientY - r.top) * canvas.height / r.height };
    };
    const segment = (a, b) => {
      ctx.strokeStyle = "#17202a"; ctx.lineWidth = 3; ctx.lineCap = "round"; ctx.lineJoin = "round";
      ctx.beginPath(); ctx.moveTo(a.x, a.y); ctx.lineTo(b.x, b.y); ctx.stroke();
    };
    canvas.addEventListener("pointerdown", (e) => {
      if (canvas.dataset.frozen === "true") return;
      e.preventDefault();
      canvas.setPointerCapture(e.pointerId);
      last = at(e);
      segment(last, { x: last.x + 0.1, y: last.y + 0.1 });
    });
    canvas.addEventListener("pointermove", (e) => {
      if (!last) return;
      const p = at(e);
      segment(last, p);
      last = p;
    });
    const end = () => {
      if (!last) return;
      last = null;
      strokes++;
      canvas.dataset.strokes = String(strokes);
    };
    canvas.addEventListener("pointerup", end);
    canvas.addEventListener("pointercancel", end);
    const clear = () => { ctx.clearRect(0, 0, canvas.width, canvas.height); strokes = 0; last = null; canvas.dataset.strokes = "0"; };
    clearButton.addEventListener("click", clear);
    return { empty: () => strokes === 0, png: () => canvas.toDataURL("image/png"), clear };
  }

  const signPad = signaturePad($("sign-pad"), $("sign-clear"));
  const consentPad = signaturePad($("consent-pad"), $("consent-clear"));

  // Signing is queued like every other change (offline too): the server signs the chart with everything queued before
  // it, once (the operation id is the signature's idempotency key). Nothing is charted after it on this tablet.
  // A drawn signature sends the pad's PNG; without one, the typed name signs.
  $("sign").addEventListener("click", async () => {
    const name = $("sign-name").value.trim();
    const drawn = !signPad.empty();
    if (!drawn && !name) { $("sign-status").textContent = "Draw your signature or type your full name to sign."; return; }
    if (view().signing) return;
    await record(drawn
      ? { kind: "sign", method: "drawn", image: signPad.png(), ...(name ? { typedName: name } : {}) }
      : { kind: "sign", method: "typed", typedName: name });
    $("sign-status").textContent = online() ? "Signing…" : "Signed on this tablet; it reaches the chart when the tablet is online.";
  });

  // The patient's consent (or a parent's or guardian's for a minor or a patient who cannot sign), queued as well.
  $("consent-role").addEventListener("change", () => {
    $("consent-relationship-field").hidden = $("consent-role").value !== "guardian";
  });
  $("consent-sign").addEventListener("click", async () => {
    const signerName = $("consent-name").value.trim();
    const signerRole = $("consent-role").value;
    const relationship = $("consent-relationship").value.trim();
    if (!signerName) { $("consent-status").textContent = "Enter the signer's full name."; return; }
    if (signerRole === "guardian" && !relationship) { $("consent-status").textContent = "Enter the guardian's relationship to the patient."; return; }
    const drawn = !consentPad.empty();
    await record({
      kind: "consent", purpose: $("consent-purpose").value, signerName, signerRole,
      ...(signerRole === "guardian" ? { guardianRelationship: relationship } : {}),
      ...(drawn ? { method: "drawn", image: consentPad.png() } : { method: "typed", typedName: signerName }),
    });
    consentPad.clear();
    $("consent-status").textContent = online() ? "Recording consent…" : "Consent queued: it is recorded when the tablet is online.";
  });

  // ---- start ---------------------------------------------------------------------------------------------------------
  if ("serviceWorker" in navigator) {
    navigator.serviceWorker.register("/tablet/sw.js", { scope: "/tablet" }).catch(() => {});
  }
  window.medspaTablet = { state: s, flush, pull, get connection() { return connection; }, deviceId };
  if (session.token) started().catch((err) => say(err.message)); else show("signin");
  status();
})();
