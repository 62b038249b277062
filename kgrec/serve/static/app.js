// The kgrec page: look up a user, list recommendations with their explanations, and draw the
// user-product paths of the selected item with vis-network.
"use strict";
const $ = (id) => document.getElementById(id);
let network = null;

function headers() {
  const token = $("token").value.trim();
  return token ? { Authorization: "Bearer " + token } : {};
}

async function getJSON(path, params) {
  const url = path + "?" + new URLSearchParams(params).toString();
  const res = await fetch(url, { headers: headers() });
  const body = await res.json().catch(() => ({}));
  if (!res.ok) {
    const detail = typeof body.detail === "string" ? body.detail : JSON.stringify(body.detail || body);
    throw new Error(res.status + ": " + detail);
  }
  return body;
}

function text(tag, value, cls) {
  const el = document.createElement(tag);
  el.textContent = value;
  if (cls) el.className = cls;
  return el;
}

async function showPaths(user, item, li) {
  document.querySelectorAll("li.item").forEach((x) => x.classList.remove("selected"));
  li.classList.add("selected");
  $("error").textContent = "";
  try {
    const result = await getJSON("/paths", { user: user, product: item.id, max_hops: 4, limit: 20 });
    const data = { nodes: new vis.DataSet(result.vis.nodes), edges: new vis.DataSet(result.vis.edges) };
    if (network) network.destroy();
    network = new vis.Network($("graph"), data, {
      physics: { stabilization: { iterations: 150 } },
      edges: { font: { size: 10 }, smooth: false },
      nodes: { shape: "dot", size: 12 },
    });
    window.kgrecNetwork = network;
    const table = $("paths");
    table.replaceChildren();
    const head = document.createElement("tr");
    ["hops", "pattern", "path"].forEach((h) => head.appendChild(text("th", h)));
    table.appendChild(head);
    result.paths.forEach((p) => {
      const tr = document.createElement("tr");
      tr.className = "path";
      [String(p.hops), p.pattern, p.text].forEach((v) => tr.appendChild(text("td", v)));
      table.appendChild(tr);
    });
    $("graph").dataset.nodes = String(result.vis.nodes.length);
  } catch (err) {
    $("error").textContent = err.message;
  }
}

$("lookup").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const user = $("user").value.trim();
  $("error").textContent = "";
  $("items").replaceChildren();
  try {
    const rec = await getJSON("/recommend", { user: user, k: $("k").value || 10 });
    rec.items.forEach((item) => {
      const li = document.createElement("li");
      li.className = "item";
      li.dataset.id = item.id;
      li.appendChild(text("strong", item.title || item.id));
      li.appendChild(text("span", "  score " + item.score.toFixed(3) + " · " + item.sources.map((s) => s.source).join(", "), "score"));
      const why = document.createElement("ul");
      item.why.forEach((w) => why.appendChild(text("li", w, "why")));
      li.appendChild(why);
      li.addEventListener("click", () => showPaths(user, item, li));
      $("items").appendChild(li);
    });
    if (!rec.items.length) $("error").textContent = "no recommendations for this user";
  } catch (err) {
    $("error").textContent = err.message;
  }
});
