// Wall-screen board: signs in (email/password, or a display link #display=KEY), joins the clinic's board over
// SignalR, applies numbered events in order, and keeps timers running. Sequence rule: an event is applied only if
// its seq is exactly one more than the last applied; older ones are duplicates, a gap means "join again from seq".
(() => {
  "use strict";

  const $ = (id) => document.getElementById(id);
  const state = { seq: 0, snapshot: null, rooms: new Map(), providers: new Map(), queue: null, presence: [], presenceVersion: -1 };
  const auth = { token: null, refreshToken: null, clinicId: null, displayKey: null, renewTimer: null };
  let connection = null;
  let joining = null;        // events pushed while a join is in flight wait here
  let joiningPresence = null; // presence changes pushed while a join is in flight wait here
  let everConnected = false;
  let restoredTimer = null;
  let ended = false;          // the link or session was revoked (or ended): stop reconnecting, say so

  const deviceId = (() => {
    try {
      let id = localStorage.getItem("medspa.board.device");
      if (!id) { id = "board-" + Math.random().toString(36).slice(2, 10); localStorage.setItem("medspa.board.device", id); }
      return id;
    } catch { return "board-" + Math.random().toString(36).slice(2, 10); }
  })();

  // ---- sign-in ----------------------------------------------------------------------------------------------------
  async function post(url, body) {
    const res = await fetch(url, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
    const json = await res.json().catch(() => ({}));
    if (!res.ok) { const err = new Error(json.detail || json.title || ("HTTP " + res.status)); err.statusCode = res.status; throw err; }
    return json;
  }

  async function exchangeDisplayKey() {
    const r = await post("/api/board/display-token", { key: auth.displayKey });
    auth.token = r.accessToken; auth.clinicId = r.clinicId;
    scheduleRenewal(r.expiresAt, exchangeDisplayKey);
  }

  async function refreshStaffToken() {
    const r = await post("/api/auth/refresh", { refreshToken: auth.refreshToken });
    auth.token = r.accessToken; auth.refreshToken = r.refreshToken;
    scheduleRenewal(r.accessTokenExpiresAt, refreshStaffToken);
  }

  function scheduleRenewal(expiresAt, renew) {
    clearTimeout(auth.renewTimer);
    const ms = Math.max(30_000, (new Date(expiresAt) - Date.now()) * 0.7);
    auth.renewTimer = setTimeout(() => renew().catch(() => scheduleRenewal(new Date(Date.now() + 60_000), renew)), ms);
  }

  async function signIn(email, password) {
    const r = await post("/api/auth/login", { email, password, device: { id: deviceId, name: "Wall screen" } });
    auth.token = r.accessToken; auth.refreshToken = r.refreshToken;
    const wanted = new URLSearchParams(location.search).get("clinic");
    auth.clinicId = wanted || (r.user.clinicIds && r.user.clinicIds[0]);
    if (!auth.clinicId) throw new Error("This account is not assigned to a clinic; open /board?clinic=ID.");
    scheduleRenewal(r.accessTokenExpiresAt, refreshStaffToken);
  }

  // ---- connection -------------------------------------------------------------------------------------------------
  // The server refused our credentials (401/403): a revoked display link, a revoked or ended session. The SignalR
  // client reports a refused negotiate as an HttpError (statusCode) or, wrapped, only in its message.
  function isRefused(err) {
    if (!err) return false;
    if (err.statusCode === 401 || err.statusCode === 403) return true;
    return /\b(401|403)\b|Unauthorized|Forbidden/.test(String(err.message || err));
  }

  // No more retries: the screen cannot get in again by itself. Tell whoever looks at it what to do.
  function accessEnded() {
    if (ended) return;
    ended = true;
    clearTimeout(auth.renewTimer);
    if (connection) connection.stop().catch(() => {});
    if (auth.displayKey) {
      banner("revoked", "This screen's display link was revoked or is no longer valid. Ask an owner or admin for a new link.");
    } else {
      banner("revoked", "Your session has ended (signed out, revoked or expired). Sign in again.");
      $("signin-error").textContent = "Your session has ended. Sign in again.";
      $("board").hidden = true;
      $("signin").hidden = false;
    }
  }

  function banner(kind, text) {
    const b = $("banner");
    clearTimeout(restoredTimer);
    if (!kind) { b.hidden = true; b.className = "banner"; b.textContent = ""; return; }
    b.hidden = false; b.className = "banner " + kind; b.textContent = text;
    b.dataset.state = kind;
    if (kind === "restored") restoredTimer = setTimeout(() => banner(null), 5000);
  }

  function connect() {
    connection = new signalR.HubConnectionBuilder()
      .withUrl("/hubs/clinic?device=" + encodeURIComponent(deviceId), { accessTokenFactory: () => auth.token })
      // A socket that drops briefly is resumed as the same connection (the server replays what the page had not
      // acknowledged); only if that fails does the automatic reconnect + catch-up by seq below take over.
      .withStatefulReconnect()
      // A refused reconnect (revoked or expired token) stops here: start() below renews the token or says it ended.
      .withAutomaticReconnect({
        nextRetryDelayInMilliseconds: (ctx) => isRefused(ctx.retryReason) ? null : Math.min(500 * 2 ** ctx.previousRetryCount, 5000),
      })
      .withKeepAliveInterval(5000)
      .withServerTimeout(15000)
      .configureLogging(signalR.LogLevel.Warning)
      .build();

    connection.on("boardEvent", onEvent);
    // Presence: the join's list, then only what changed (presenceChanged, a few a second at most); the whole list again
    // only when the server missed a change. Versions order them: anything not newer than what we hold is dropped.
    connection.on("presence", (p) => { if (setPresence(p)) renderPresence(); });
    connection.on("presenceChanged", (c) => { if (applyPresenceChange(c)) renderPresence(); });
    connection.on("boardResync", () => join(null).catch(() => setTimeout(rejoin, 2000)));
    connection.onreconnecting(() => banner("lost", "Connection lost — reconnecting…"));
    connection.onreconnected(() => rejoin());
    // Automatic reconnect gave up (or the first start failed): keep trying, forever, without interaction.
    connection.onclose(() => { if (ended) return; banner("lost", "Connection lost — reconnecting…"); setTimeout(start, 2000); });
    return start();
  }

  async function start() {
    if (ended) return;
    try {
      if (auth.displayKey) await exchangeDisplayKey();
      if (connection.state === signalR.HubConnectionState.Disconnected) {
        try {
          await connection.start();
        } catch (err) {
          // The token may just have expired (the server closes a connection when its token does): renew, try once more.
          if (!isRefused(err) || !auth.refreshToken) throw err;
          await refreshStaffToken();
          await connection.start();
        }
      }
      await join(everConnected ? state.seq : null);
      if (everConnected) banner("restored", "Connection restored"); else banner(null);
      everConnected = true;
    } catch (err) {
      if (isRefused(err)) { accessEnded(); return; }
      banner("lost", "Connection lost — reconnecting…");
      setTimeout(start, 2000);
    }
  }

  // After a reconnect: catch up from the last applied seq; keep trying while the server cannot answer yet.
  async function rejoin() {
    try {
      await join(state.seq);
      banner("restored", "Connection restored");
    } catch {
      if (connection.state === signalR.HubConnectionState.Connected) setTimeout(rejoin, 2000);
    }
  }

  async function join(lastSeq) {
    joining = [];
    joiningPresence = [];
    try {
      const result = await connection.invoke("JoinBoard", auth.clinicId, lastSeq);
      if (result.snapshot) applySnapshot(result.snapshot);
      else for (const e of result.events) apply(e);
      setPresence(result.presence);
      const pending = joining; joining = null;
      const pendingPresence = joiningPresence; joiningPresence = null;
      for (const c of pendingPresence) applyPresenceChange(c);
      for (const e of pending) onEvent(e);
      renderAll();
    } catch (err) {
      joining = null;
      joiningPresence = null;
      throw err;
    }
  }

  function onEvent(e) {
    if (joining) { joining.push(e); return; }
    if (e.seq <= state.seq) return;
    if (e.seq !== state.seq + 1) { join(state.seq).catch(() => {}); return; }
    apply(e);
    renderAll();
  }

  // ---- state ------------------------------------------------------------------------------------------------------
  function applySnapshot(s) {
    state.seq = s.seq;
    if (s.clinicName) {
      document.getElementById("clinic-title").textContent = s.clinicName;
      document.title = s.clinicName + " · board";
    }
    state.rooms = new Map(s.rooms.map((r) => [r.roomId, r]));
    state.providers = new Map(s.providers.map((p) => [p.providerId, p]));
    state.queue = s.queue;
  }

  function apply(e) {
    if (e.seq !== state.seq + 1) return;
    state.seq = e.seq;
    switch (e.event) {
      case "room.updated": state.rooms.set(e.data.roomId, e.data); break;
      case "room.removed": state.rooms.delete(e.data.roomId); break;
      case "provider.status_changed": state.providers.set(e.data.providerId, e.data); break;
      case "waitingRoom.queue_updated": state.queue = e.data; break;
    }
    document.body.dataset.seq = String(state.seq);
  }

  // ---- rendering --------------------------------------------------------------------------------------------------
  const label = (s) => (s || "").replace(/-/g, " ");
  const esc = (s) => String(s ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
  const mmss = (ms) => {
    const t = Math.max(0, Math.floor(ms / 1000));
    const m = Math.floor(t / 60), s = t % 60;
    return m + ":" + String(s).padStart(2, "0");
  };

  // Same thresholds as TreatmentPhases on the server: < 15 % just started, ≥ 85 % almost done.
  function phaseOf(room, now) {
    if (room.status !== "in-progress" || !room.startedAt) return room.phase;
    if (!room.estimatedMinutes) return "in-progress";
    const pct = (now - new Date(room.startedAt)) / (room.estimatedMinutes * 600);
    return pct < 15 ? "just-started" : pct < 85 ? "in-progress" : "almost-done";
  }

  function renderRooms() {
    const now = Date.now();
    const html = [...state.rooms.values()].map((r) => {
      const provider = r.providerId && state.providers.get(r.providerId);
      const phase = phaseOf(r, now);
      const running = r.startedAt && ["in-progress", "documenting", "waiting"].includes(r.status);
      const elapsed = running ? now - new Date(r.startedAt) : 0;
      const overdue = running && r.estimatedMinutes && elapsed > r.estimatedMinutes * 60000;
      const statusText = r.status === "in-progress" && phase ? label(phase) : label(r.status);
      return `<article class="room" data-room-id="${esc(r.roomId)}" data-status="${esc(r.status)}" data-phase="${esc(phase || "")}">
        <h3><span class="name">${esc(r.name)}</span><span class="status">${esc(statusText)}</span></h3>
        <div class="patient">${esc(r.patient || "")}</div>
        <div class="detail">${esc(provider ? provider.name : "")}${r.treatment ? " · " + esc(r.treatment) : ""}</div>
        ${running ? `<div class="timer${overdue ? " overdue" : ""}">${mmss(elapsed)}${r.estimatedMinutes ? " / " + r.estimatedMinutes + " min" : ""}</div>` : ""}
        ${r.status === "out-of-service" && r.outOfServiceReason ? `<div class="detail">${esc(r.outOfServiceReason)}</div>` : ""}
      </article>`;
    }).join("");
    $("rooms").innerHTML = html || `<p class="detail">No rooms yet.</p>`;
  }

  function renderProviders() {
    $("providers").innerHTML = [...state.providers.values()].map((p) =>
      `<li data-provider-id="${esc(p.providerId)}" data-status="${esc(p.status)}" data-connection="${esc(p.connection)}">
        <span><span class="dot ${esc(p.connection)}" title="tablet ${esc(p.connection)}"></span>${esc(p.name)}${p.pendingOperations > 0
          ? ` <span class="pending" data-pending="${esc(String(p.pendingOperations))}" title="chart operations waiting to sync">${esc(String(p.pendingOperations))} to sync</span>` : ""}</span>
        <span class="pstatus">${esc(label(p.status))}</span></li>`).join("");
  }

  function renderQueue() {
    const entries = (state.queue && state.queue.entries) || [];
    const now = Date.now();
    $("queue-count").textContent = entries.length ? "(" + entries.length + ")" : "";
    $("queue").innerHTML = entries.map((q) => {
      const waited = Math.max(0, Math.floor((now - new Date(q.arrivedAt)) / 60000));
      return `<li class="${esc(q.priority)}"><span>${esc(q.patient)}${q.waiting === "in-car" ? " · in car" : ""}</span><span>${waited} min</span></li>`;
    }).join("");
  }

  function presenceKey(p) { return p.userId + "/" + (p.deviceId || ""); }

  function setPresence(p) {
    if (p.version < state.presenceVersion) return false;
    state.presence = p.connected;
    state.presenceVersion = p.version;
    return true;
  }

  // A change may arrive while a join is in flight (the screen is a member before it reads the board): it is kept and
  // applied after the join's list. A change applies only on top of the version it was made from; one that does not
  // follow on (a message lost) is not guessed at: a rejoin brings the whole list.
  function applyPresenceChange(c) {
    if (joiningPresence) { joiningPresence.push(c); return false; }
    if (c.version <= state.presenceVersion) return false;
    if (c.previousVersion !== state.presenceVersion) { join(state.seq).catch(() => {}); return false; }
    const entries = new Map(state.presence.map((p) => [presenceKey(p), p]));
    for (const key of c.removed) entries.delete(presenceKey(key));
    for (const p of c.upserted) entries.set(presenceKey(p), p);
    state.presence = [...entries.values()].sort((a, b) =>
      a.name.localeCompare(b.name, undefined, { sensitivity: "base" }) || (a.deviceId || "").localeCompare(b.deviceId || ""));
    state.presenceVersion = c.version;
    return true;
  }

  function renderPresence() {
    $("presence").innerHTML = (state.presence || []).map((p) =>
      `<li><span>${esc(p.name)}</span><span class="pstatus">${esc(label(p.role))}</span></li>`).join("");
  }

  function renderAll() { renderRooms(); renderProviders(); renderQueue(); renderPresence(); }

  function tick() {
    $("clock").textContent = new Date().toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
    if (state.rooms.size) { renderRooms(); renderQueue(); }
  }

  // ---- start ------------------------------------------------------------------------------------------------------
  function showBoard() {
    $("signin").hidden = true; $("board").hidden = false;
    setInterval(tick, 1000); tick();
    return connect();
  }

  const hash = new URLSearchParams(location.hash.slice(1));
  if (hash.get("display")) {
    auth.displayKey = hash.get("display");
    showBoard();
  } else {
    $("signin").hidden = false;
    $("signin").addEventListener("submit", async (ev) => {
      ev.preventDefault();
      $("signin-error").textContent = "";
      try {
        await signIn($("email").value, $("password").value);
        if (connection) { ended = false; $("signin").hidden = true; $("board").hidden = false; banner(null); await start(); }
        else await showBoard();
      }
      catch (err) { $("signin-error").textContent = err.message; }
    });
  }

  window.medspaBoard = { state, get connection() { return connection; } };
})();
