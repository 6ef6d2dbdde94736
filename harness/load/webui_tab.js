// socklife: the chart of TCP states over time in Locust's "TCP states" tab, above its
// table, and the full accept queues marked in the table (harness/load/webui.py).
(() => {
  const TAB = "tcp-states", W = 900, H = 300, L = 56, R = 16, T = 12, B = 30;
  const COLORS = {ESTABLISHED: "#15803d", SYN_SENT: "#f59e0b", SYN_RECV: "#0ea5e9",
    FIN_WAIT1: "#dc2626", FIN_WAIT2: "#9333ea", TIME_WAIT: "#92400e", CLOSE_WAIT: "#db2777",
    LAST_ACK: "#6b7280", CLOSING: "#84cc16", CLOSE: "#14b8a6", LISTEN: "#111827"};
  const state = {host: "total", log: false, data: null};

  const inTab = () => new URL(window.location.href).searchParams.get("tab") === TAB;
  const esc = s => String(s).replace(/[&<>"]/g, c => ({"&": "&amp;", "<": "&lt;",
    ">": "&gt;", '"': "&quot;"}[c]));

  function tableOfTab() {
    for (const th of document.querySelectorAll("table th")) {
      if (th.textContent.trim() === "Port headroom") return th.closest("table");
    }
    return null;
  }

  function panel() {
    let box = document.getElementById("socklife-chart");
    const table = tableOfTab();
    if (!table) return null;
    const anchor = table.closest(".MuiTableContainer-root") || table;
    if (box && box.nextElementSibling === anchor) return box;
    if (box) box.remove();
    box = document.createElement("div");
    box.id = "socklife-chart";
    box.style.cssText = "margin:16px 0;font-family:Roboto,Helvetica,Arial,sans-serif;" +
      "font-size:14px;";
    box.innerHTML =
      '<div style="display:flex;gap:16px;align-items:center;margin-bottom:8px">' +
      '<span style="font-size:1.25rem;font-weight:500">TCP states over time</span>' +
      '<label>Host <select id="socklife-host"></select></label>' +
      '<label><input type="checkbox" id="socklife-log"> Log scale</label>' +
      '<span id="socklife-count" style="opacity:.7"></span></div>' +
      `<svg id="socklife-svg" viewBox="0 0 ${W} ${H}" width="100%" ` +
      'style="max-width:1200px;display:block" role="img" ' +
      'aria-label="TCP states over time"></svg><div id="socklife-legend" ' +
      'style="display:flex;flex-wrap:wrap;gap:12px;margin-top:4px"></div>';
    anchor.parentNode.insertBefore(box, anchor);
    box.querySelector("#socklife-log").checked = state.log;
    box.querySelector("#socklife-log").addEventListener("change", e => {
      state.log = e.target.checked; draw();
    });
    box.querySelector("#socklife-host").addEventListener("change", e => {
      state.host = e.target.value; fetchSeries();
    });
    return box;
  }

  function ticks(max, log) {
    if (log) {
      const out = [0];
      for (let v = 1; v <= max * 1.0001; v *= 10) out.push(v);
      return out;
    }
    const step = Math.pow(10, Math.floor(Math.log10(Math.max(1, max / 4))));
    const n = Math.ceil(max / step) > 8 ? step * 2 : step;
    const out = [];
    for (let v = 0; v <= max; v += n) out.push(v);
    return out;
  }

  function draw() {
    const box = panel(), data = state.data;
    if (!box || !data) return;
    const select = box.querySelector("#socklife-host");
    if (select.dataset.hosts !== data.hosts.join("\n")) {
      select.innerHTML = data.hosts.map(h => `<option>${esc(h)}</option>`).join("");
      select.dataset.hosts = data.hosts.join("\n");
    }
    select.value = state.host;
    const pts = data.points, svg = box.querySelector("#socklife-svg");
    box.querySelector("#socklife-count").textContent = `${pts.length} points`;
    if (!pts.length) { svg.innerHTML = ""; return; }
    const t0 = pts[0][0], t1 = Math.max(pts[pts.length - 1][0], t0 + 1);
    const shown = data.states.map((name, i) => [name, i])
      .filter(([, i]) => pts.some(p => p[1][i]));
    let ymax = 1;
    for (const p of pts) for (const [, i] of shown) ymax = Math.max(ymax, p[1][i]);
    const f = v => state.log ? Math.log10(1 + v) : v;
    const x = t => L + (W - L - R) * (t - t0) / (t1 - t0);
    const y = v => H - B - (H - T - B) * f(v) / f(ymax);
    let out = "";
    for (const v of ticks(ymax, state.log)) {
      out += `<line x1="${L}" x2="${W - R}" y1="${y(v)}" y2="${y(v)}" stroke="#8884" />` +
        `<text x="${L - 6}" y="${y(v) + 4}" text-anchor="end" font-size="11" ` +
        `fill="currentColor">${v}</text>`;
    }
    for (let k = 0; k <= 4; k++) {
      const t = t0 + (t1 - t0) * k / 4;
      out += `<text x="${x(t)}" y="${H - 10}" text-anchor="middle" font-size="11" ` +
        `fill="currentColor">${Math.round(t - t0)} s</text>`;
    }
    const legend = [];
    for (const [name, i] of shown) {
      const d = pts.map(p => `${x(p[0]).toFixed(1)},${y(p[1][i]).toFixed(1)}`).join(" ");
      out += `<polyline class="socklife-line" data-state="${name}" fill="none" ` +
        `stroke-width="1.5" stroke="${COLORS[name]}" points="${d}"/>`;
      legend.push(`<span style="color:${COLORS[name]}">\u25A0 ${name} ` +
        `${pts[pts.length - 1][1][i]}</span>`);
    }
    svg.innerHTML = out;
    box.querySelector("#socklife-legend").innerHTML = legend.join("");
  }

  function markFullQueues() {
    const table = tableOfTab();
    if (!table) return;
    const heads = [...table.querySelectorAll("th")].map(th => th.textContent.trim());
    const col = heads.indexOf("Accept queue");
    for (const tr of table.querySelectorAll("tbody tr")) {
      const td = tr.children[col];
      if (!td) continue;
      const text = td.textContent.trim();
      const was = text.endsWith("was full");
      const full = !was && (text.endsWith("full") || text.endsWith("overflowing"));
      td.classList.toggle("socklife-full", full);
      td.classList.toggle("socklife-was-full", was);
      td.style.color = full ? "#fff" : "";
      td.style.background = full ? "#dc2626" : was ? "#fde68a" : "";
      td.style.fontWeight = full || was ? "700" : "";
    }
  }

  async function fetchSeries() {
    if (!inTab()) return;
    try {
      const answer = await fetch(`./socklife/series?host=${encodeURIComponent(state.host)}`);
      state.data = await answer.json();
    } catch (e) { return; }
    draw();
  }

  setInterval(() => { if (inTab()) { draw(); markFullQueues(); } }, 500);
  setInterval(fetchSeries, 2000);
  fetchSeries();
})();
