// sipwright dashboard: live registrations, calls and counters over server-sent events
// (/api/events), and the ladder of a chosen call (/api/calls/<id>/ladder.svg).
// Plain DOM, no framework; every value from the server goes in as text, never as markup.
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  let clockOffset = 0; // server wall clock minus ours, in seconds
  let bindings = [];
  let calls = [];
  let selected = null; // Call-ID of the open ladder
  let selectedCount = -1;
  let loading = false;
  let detail = null;

  function cell(row, text, cls) {
    const td = document.createElement("td");
    td.textContent = text === null || text === undefined ? "" : String(text);
    if (cls) td.className = cls;
    row.appendChild(td);
    return td;
  }
  function now() { return Date.now() / 1000 + clockOffset; }
  function clockTime(t) {
    if (!t) return "";
    const d = new Date(t * 1000);
    return d.toLocaleTimeString([], { hour12: false }) + "." + String(d.getMilliseconds()).padStart(3, "0");
  }
  function seconds(v) { return v === null || v === undefined ? "" : Number(v).toFixed(3) + " s"; }
  function remaining(b) {
    const left = Math.max(0, Math.round(b.expires_at - now()));
    const m = Math.floor(left / 60), s = left % 60;
    return m ? `${m} min ${String(s).padStart(2, "0")} s` : `${s} s`;
  }

  // -- registrations ----------------------------------------------------------------
  function renderRegistrations(total) {
    const body = $("registrations").tBodies[0];
    const rows = [];
    for (const b of bindings) {
      const tr = document.createElement("tr");
      tr.dataset.aor = b.aor;
      cell(tr, b.aor, "aor");
      cell(tr, b.contact, "contact");
      cell(tr, b.transport);
      cell(tr, b.source);
      cell(tr, remaining(b), "expires").dataset.expiresAt = b.expires_at;
      cell(tr, b.q === null ? "" : b.q);
      cell(tr, b.user_agent);
      rows.push(tr);
    }
    body.replaceChildren(...rows);
    $("regs-empty").hidden = bindings.length > 0;
    $("regs-count").textContent = total > bindings.length
      ? `(${bindings.length} of ${total} shown)` : `(${total})`;
  }
  function tick() {
    for (const td of document.querySelectorAll("#registrations td.expires")) {
      td.textContent = remaining({ expires_at: Number(td.dataset.expiresAt) });
    }
  }

  // -- counters ---------------------------------------------------------------------
  function rows(table, entries) {
    const body = $(table).tBodies[0];
    body.replaceChildren(...entries.map((values) => {
      const tr = document.createElement("tr");
      values.forEach((v, i) => {
        if (i === 0) {
          const th = document.createElement("th");
          th.scope = "row";
          th.textContent = v;
          tr.appendChild(th);
        } else cell(tr, v, "num");
      });
      return tr;
    }));
  }
  function renderStats(s) {
    clockOffset = s.now - Date.now() / 1000;
    $("worker").textContent = `(worker ${s.worker})`;
    const rate = (k) => (s.rates[k] === undefined ? "" : s.rates[k].toFixed(1));
    rows("counters", [
      ["Requests per second", rate("requests")],
      ["Responses per second", rate("responses")],
      ["Active transactions", s.active_transactions],
      ["Active INVITE contexts", s.active_contexts],
      ["Forwarded (stateful)", s.forwarded],
      ["Forwarded (stateless)", s.stateless_forwards],
      ["Dropped", s.dropped],
      ["Errors", s.errors],
      ["Bindings", s.bindings],
      ["Uptime", `${Math.round(s.uptime)} s`],
    ]);
    rows("methods", Object.keys(s.requests).sort().map((m) => [m, s.requests[m], rate(m)]));
    rows("responses", Object.keys(s.responses).sort().map((c) => [c, s.responses[c]]));
  }

  // -- calls ------------------------------------------------------------------------
  function renderCalls(data) {
    const body = $("calls").tBodies[0];
    const onlyInvite = $("only-invite").checked;
    const shown = calls.filter((c) => !onlyInvite || c.method === "INVITE");
    body.replaceChildren(...shown.map((c) => {
      const tr = document.createElement("tr");
      tr.dataset.callId = c.call_id;
      if (c.call_id === selected) tr.className = "selected";
      cell(tr, clockTime(c.first));
      cell(tr, c.method || "?");
      cell(tr, c.from, "uri");
      cell(tr, c.to, "uri");
      cell(tr, c.state + (c.stale ? " (updating)" : ""));
      cell(tr, c.final_status);
      cell(tr, c.count + (c.dropped ? ` (+${c.dropped} not kept)` : ""), "num");
      cell(tr, c.retransmissions, "num");
      cell(tr, seconds(c.duration), "num");
      const td = document.createElement("td");
      const button = document.createElement("button");
      button.type = "button";
      button.className = "open-ladder";
      button.textContent = "Ladder";
      button.setAttribute("aria-label", `Ladder of ${c.method || "call"} ${c.call_id}`);
      button.addEventListener("click", () => openCall(c.call_id, true));
      td.appendChild(button);
      tr.appendChild(td);
      return tr;
    }));
    $("calls-empty").hidden = shown.length > 0;
    if (data) {
      $("calls-count").textContent = data.enabled ? `(${data.total} traced)` : "";
      const notes = [];
      if (!data.enabled) notes.push("Call tracing is off ([http] trace = false or --no-trace).");
      if (data.evicted) notes.push(`${data.evicted} older calls evicted (at most ${data.max_calls} kept).`);
      if (data.dropped) notes.push(`${data.dropped} messages not kept (over the per-call limit).`);
      if (data.truncated) notes.push(`${data.truncated} messages truncated (over 64 KiB).`);
      if (data.unattributed) notes.push(`${data.unattributed} messages without a Call-ID.`);
      $("calls-note").textContent = notes.join(" ");
    }
    const open = calls.find((c) => c.call_id === selected);
    if (open && open.count !== selectedCount && !loading) openCall(selected, false);
  }

  // -- the ladder -------------------------------------------------------------------
  async function openCall(callId, focus) {
    selected = callId;
    loading = true;
    const base = "/api/calls/" + encodeURIComponent(callId);
    try {
      const [info, svg] = await Promise.all([
        fetch(base).then((r) => (r.ok ? r.json() : Promise.reject(new Error(`${r.status}`)))),
        fetch(base + "/ladder.svg").then((r) => (r.ok ? r.text() : Promise.reject(new Error(`${r.status}`)))),
      ]);
      if (selected !== callId) return;
      detail = info;
      selectedCount = info.count;
      const doc = new DOMParser().parseFromString(svg, "image/svg+xml");
      const root = doc.documentElement;
      const box = $("ladder");
      if (root.nodeName.toLowerCase() === "svg") {
        box.replaceChildren(document.importNode(root, true));
      } else box.textContent = "The ladder could not be drawn.";
      $("ladder-summary").textContent =
        `${info.method || "?"} — Call-ID ${info.call_id} — ${info.state}` +
        (info.final_status ? `, final ${info.final_status}` : "") +
        `, ${info.messages.length} messages` +
        (info.retransmissions ? `, ${info.retransmissions} retransmissions` : "") +
        (info.dropped ? `, ${info.dropped} not kept` : "");
      renderMessages(info.messages);
      $("ladder-section").hidden = false;
      for (const tr of $("calls").tBodies[0].rows) tr.classList.toggle("selected", tr.dataset.callId === callId);
      if (focus) {
        history.replaceState(null, "", "#call=" + encodeURIComponent(callId));
        $("h-ladder").focus();
      }
    } catch (err) {
      $("ladder-section").hidden = false;
      $("ladder-summary").textContent = `Call ${callId}: not available (${err.message}).`;
      $("ladder").replaceChildren();
      $("messages").tBodies[0].replaceChildren();
    } finally {
      loading = false;
    }
  }
  function renderMessages(messages) {
    $("messages").tBodies[0].replaceChildren(...messages.map((m) => {
      const tr = document.createElement("tr");
      tr.dataset.index = m.index;
      cell(tr, m.index, "num");
      cell(tr, m.offset.toFixed(3), "num");
      cell(tr, m.source);
      cell(tr, m.destination);
      cell(tr, m.label);
      const notes = [];
      if (m.retransmission) notes.push("retransmission");
      if (m.error) notes.push("does not parse");
      const errors = m.findings.filter((f) => f.severity === "error").length;
      if (errors) notes.push(`${errors} lint error(s)`);
      else if (m.findings.length) notes.push(`${m.findings.length} warning(s)`);
      if (m.truncated) notes.push(`truncated (${m.size} bytes)`);
      cell(tr, notes.join(", "));
      const td = document.createElement("td");
      const b = document.createElement("button");
      b.type = "button";
      b.textContent = "Show";
      b.setAttribute("aria-label", `Show message ${m.index}: ${m.label}`);
      b.addEventListener("click", () => showMessage(m.index));
      td.appendChild(b);
      tr.appendChild(td);
      return tr;
    }));
  }
  function showMessage(index) {
    if (!detail) return;
    const m = detail.messages.find((x) => x.index === index);
    if (!m) return;
    $("message-title").textContent =
      `#${m.index} +${m.offset.toFixed(3)} s ${m.source} → ${m.destination} (${m.transport})` +
      (m.retransmission ? ", retransmission" : "") + (m.truncated ? `, truncated from ${m.size} bytes` : "");
    let text = m.text;
    if (m.error) text += `\n\n[does not parse: ${m.error}]`;
    for (const f of m.findings) text += `\n[${f.severity} line ${f.line ?? "-"}: ${f.code}: ${f.message} (${f.rfc})]`;
    $("message").textContent = text;
    for (const g of document.querySelectorAll("#ladder g.arrow")) {
      g.classList.toggle("selected", g.getAttribute("data-index") === String(index));
    }
    for (const tr of $("messages").tBodies[0].rows) tr.classList.toggle("selected", tr.dataset.index === String(index));
  }
  function arrowOf(target) { return target && target.closest ? target.closest("g.arrow") : null; }
  $("ladder").addEventListener("click", (e) => {
    const g = arrowOf(e.target);
    if (g) showMessage(Number(g.getAttribute("data-index")));
  });
  $("ladder").addEventListener("keydown", (e) => {
    const g = arrowOf(e.target);
    if (g && (e.key === "Enter" || e.key === " ")) {
      e.preventDefault();
      showMessage(Number(g.getAttribute("data-index")));
    }
  });
  $("only-invite").addEventListener("change", () => renderCalls(null));

  // -- live updates -----------------------------------------------------------------
  function connect() {
    const live = $("live");
    const events = new EventSource("/api/events");
    events.onopen = () => { live.textContent = "Live"; live.className = "live on"; };
    events.onerror = () => { live.textContent = "Disconnected — retrying…"; live.className = "live off"; };
    events.addEventListener("registrations", (e) => {
      const data = JSON.parse(e.data);
      bindings = data.bindings;
      renderRegistrations(data.total);
    });
    events.addEventListener("calls", (e) => {
      const data = JSON.parse(e.data);
      calls = data.calls;
      renderCalls(data);
    });
    events.addEventListener("stats", (e) => renderStats(JSON.parse(e.data)));
  }
  connect();
  setInterval(tick, 1000);
  const hash = location.hash.match(/^#call=(.+)$/);
  if (hash) openCall(decodeURIComponent(hash[1]), false);
})();
