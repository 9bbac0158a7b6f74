// sipwright message validator: POST /api/validate, then the findings and the parse tree.
// Every value from the server goes in as text, never as markup.
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);

  function cell(row, text, cls) {
    const td = document.createElement("td");
    td.textContent = text === null || text === undefined ? "" : String(text);
    if (cls) td.className = cls;
    row.appendChild(td);
    return td;
  }
  // A parsed value as nested lists: objects as <dl>, arrays as <ol>, the rest as text.
  function tree(value) {
    if (value === null || value === undefined) return document.createTextNode("—");
    if (Array.isArray(value)) {
      const ol = document.createElement("ol");
      for (const v of value) {
        const li = document.createElement("li");
        li.appendChild(tree(v));
        ol.appendChild(li);
      }
      return ol;
    }
    if (typeof value === "object") {
      const dl = document.createElement("dl");
      for (const [k, v] of Object.entries(value)) {
        const dt = document.createElement("dt");
        dt.textContent = k;
        const dd = document.createElement("dd");
        dd.appendChild(tree(v));
        dl.append(dt, dd);
      }
      return dl;
    }
    return document.createTextNode(String(value));
  }

  function show(result) {
    $("error").hidden = true;
    $("result").hidden = false;
    const errors = result.findings.filter((f) => f.severity === "error").length;
    const warnings = result.findings.length - errors;
    $("verdict").textContent =
      (result.valid ? "Valid" : result.tree ? "Invalid" : "Does not parse") +
      (result.kind ? ` ${result.kind}` : "") +
      ` (${result.size} bytes): ${errors} error(s), ${warnings} warning(s).`;
    $("verdict").className = result.valid ? "ok" : "error";
    $("findings").tBodies[0].replaceChildren(...result.findings.map((f) => {
      const tr = document.createElement("tr");
      tr.dataset.code = f.code;
      cell(tr, f.severity, f.severity);
      cell(tr, f.line, "num");
      cell(tr, f.code, "code");
      cell(tr, f.message);
      cell(tr, f.rfc, "rfc");
      return tr;
    }));
    $("no-findings").hidden = result.findings.length > 0;
    const t = result.tree;
    $("tree-section").hidden = !t;
    if (t) {
      $("start-line").replaceChildren(tree(t.start_line));
      $("headers").tBodies[0].replaceChildren(...t.headers.map((h) => {
        const tr = document.createElement("tr");
        const th = document.createElement("th");
        th.scope = "row";
        th.textContent = h.name;
        tr.appendChild(th);
        cell(tr, h.value, "value");
        const td = document.createElement("td");
        if (h.parsed !== undefined) {
          const details = document.createElement("details");
          const summary = document.createElement("summary");
          summary.textContent = "parsed";
          details.append(summary, tree(h.parsed));
          td.appendChild(details);
        }
        tr.appendChild(td);
        return tr;
      }));
      $("body-size").textContent = `(${t.body.length} bytes)`;
      $("body").textContent = t.body.text;
      $("sdp").replaceChildren();
      if (t.body.sdp) {
        const details = document.createElement("details");
        const summary = document.createElement("summary");
        summary.textContent = "SDP, parsed (RFC 8866)";
        details.append(summary, tree(t.body.sdp));
        $("sdp").appendChild(details);
      }
    }
    $("h-result").focus();
  }

  async function send(body, contentType) {
    try {
      const r = await fetch("/api/validate", { method: "POST", headers: { "Content-Type": contentType }, body });
      const data = await r.json();
      if (!r.ok) throw new Error(data.error || `HTTP ${r.status}`);
      show(data);
    } catch (err) {
      $("error").textContent = `Could not validate: ${err.message}`;
      $("error").hidden = false;
    }
  }

  $("form").addEventListener("submit", (e) => {
    e.preventDefault();
    send(JSON.stringify({ message: $("text").value, crlf: $("crlf").checked }), "application/json");
  });
  $("file").addEventListener("change", async () => {
    const file = $("file").files[0];
    if (file) send(await file.arrayBuffer(), "application/octet-stream");
  });
})();
