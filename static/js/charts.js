/* Dashboards: each card fetches its figure JSON and draws it with plotly.js (served locally). */
(function () {
  "use strict";
  var script = document.getElementById("charts-script");
  var base = script.getAttribute("data-figure-base");
  var CONFIG = { responsive: true, displaylogo: false, modeBarButtonsToRemove: ["lasso2d", "select2d"] };

  function el(tag, attrs, text) {
    var e = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { e.setAttribute(k, attrs[k]); });
    if (text !== undefined && text !== null) e.textContent = text;
    return e;
  }

  function status(target, text, cls) {
    if (target.data) { try { Plotly.purge(target); } catch (e) { /* not a plot yet */ } }
    target.innerHTML = "";
    target.appendChild(el("p", { class: cls || "chart-status" }, text));
  }

  function urlFor(card) {
    var name = card.getAttribute("data-figure-card");
    var params = new URLSearchParams();
    card.querySelectorAll(".fig-control").forEach(function (c) { if (c.value) params.set(c.name, c.value); });
    return base.replace("NAME", name) + "?" + params.toString();
  }

  function thumb(url, alt) {
    if (!url) return el("div", { class: "thumb-empty" }, "no photo");
    return el("img", { class: "thumb", src: url, alt: alt || "", loading: "lazy" });
  }

  function renderTopTable(card, items) {
    var box = card.querySelector("[data-top-table]");
    if (!box) return;
    box.innerHTML = "";
    if (!items || !items.length) return;
    var table = el("table");
    var head = el("thead"); var hr = el("tr");
    ["", "Item", "Type", "Count"].forEach(function (h, i) { hr.appendChild(el("th", i === 3 ? { class: "num" } : {}, h)); });
    head.appendChild(hr); table.appendChild(head);
    var body = el("tbody");
    items.forEach(function (it) {
      var tr = el("tr");
      var td0 = el("td"); td0.appendChild(thumb(it.thumb, it.title)); tr.appendChild(td0);
      var td1 = el("td"); var a = el("a", { href: "/catalog/items/" + it.id + "/" }, it.title);
      td1.appendChild(a); td1.appendChild(el("div", { class: "small muted mono" }, it.external_id)); tr.appendChild(td1);
      tr.appendChild(el("td", {}, it.product_type));
      tr.appendChild(el("td", { class: "num" }, String(it.count)));
      body.appendChild(tr);
    });
    table.appendChild(body); box.appendChild(table);
  }

  function renderApiTable(card, rows) {
    var box = card.querySelector("[data-api-table]");
    if (!box) return;
    box.innerHTML = "";
    if (!rows || !rows.length) return;
    var table = el("table");
    var hr = el("tr");
    ["Scenario", "Requests", "Errors", "Mean latency (ms)", "Max latency (ms)"].forEach(function (h, i) { hr.appendChild(el("th", i ? { class: "num" } : {}, h)); });
    var head = el("thead"); head.appendChild(hr); table.appendChild(head);
    var body = el("tbody");
    rows.forEach(function (r) {
      var tr = el("tr");
      tr.appendChild(el("td", {}, r.scenario));
      tr.appendChild(el("td", { class: "num" }, String(r.requests)));
      tr.appendChild(el("td", { class: "num" }, String(r.errors)));
      tr.appendChild(el("td", { class: "num" }, r.mean_latency_ms === null ? "–" : r.mean_latency_ms.toFixed(1)));
      tr.appendChild(el("td", { class: "num" }, r.max_latency_ms === null ? "–" : Number(r.max_latency_ms).toFixed(1)));
      body.appendChild(tr);
    });
    table.appendChild(body); box.appendChild(table);
  }

  function renderPeriod(card, period) {
    var note = card.querySelector("[data-period-note]");
    if (!note) return;
    if (!period) { note.textContent = ""; return; }
    var text = "Showing " + period.text + " (" + period.label + ").";
    if (period.newer_events) {
      text += " " + period.newer_events.toLocaleString() + " newer event" + (period.newer_events === 1 ? " lies" : "s lie") +
        " outside it: choose \u201call\u201d to see " + (period.newer_events === 1 ? "it" : "them") + ".";
    }
    note.textContent = text;
    card.setAttribute("data-period-start", period.start);
    card.setAttribute("data-period-end", period.end);
  }

  function fillOptions(card, options, selected) {
    var p = card.querySelector("[data-option-level=protocol]");
    var m = card.querySelector("[data-option-level=model]");
    var k = card.querySelector("[data-option-level=metric]");
    if (!p || !options) return;
    function setOpts(select, values, want) {
      select.innerHTML = "";
      var list = values.slice();
      if (want && list.indexOf(want) < 0) list.unshift(want);
      list.forEach(function (v) { var o = el("option", { value: v }, v); if (v === want) o.selected = true; select.appendChild(o); });
    }
    var protocols = Object.keys(options);
    setOpts(p, protocols, selected.protocol);
    var models = options[selected.protocol] ? Object.keys(options[selected.protocol]) : [];
    setOpts(m, models, selected.model);
    var metrics = (options[selected.protocol] || {})[selected.model] || [];
    setOpts(k, metrics, selected.metric);
  }

  function bindHover(card, target) {
    var panel = card.querySelector("[data-hover-panel]");
    if (!panel || !target.on) return;
    target.on("plotly_hover", function (ev) {
      var pt = ev.points && ev.points[0];
      if (!pt || !pt.customdata) return;
      var cd = pt.customdata;
      panel.innerHTML = "";
      if (cd[2]) panel.appendChild(el("img", { src: cd[2], alt: cd[1] }));
      else panel.appendChild(el("div", { class: "empty" }, "No photo"));
      panel.appendChild(el("p", {}, cd[1]));
      panel.appendChild(el("p", { class: "small muted mono" }, cd[0] + " · " + cd[3]));
      if (cd.length > 4) panel.appendChild(el("a", { href: "/catalog/items/" + cd[4] + "/" }, "Open item"));
    });
  }

  function load(card) {
    var target = card.querySelector("[data-figure-target]");
    status(target, "Loading…");
    fetch(urlFor(card), { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { if (!r.ok) throw new Error("HTTP " + r.status); return r.json(); })
      .then(function (payload) {
        if (payload.options) fillOptions(card, payload.options, payload.selected);
        if ("items" in payload) renderTopTable(card, payload.items);
        if ("scenarios" in payload) renderApiTable(card, payload.scenarios);
        if ("period" in payload) renderPeriod(card, payload.period);
        if (payload.empty) { status(target, payload.empty_message, "empty"); return; }
        target.innerHTML = "";
        Plotly.newPlot(target, payload.figure.data, payload.figure.layout, CONFIG).then(function () {
          bindHover(card, target);
          card.setAttribute("data-rendered", "true");
        });
      })
      .catch(function (err) { status(target, "Could not load this chart (" + err.message + ").", "error"); });
  }

  document.querySelectorAll("[data-figure-card]").forEach(function (card) {
    card.querySelectorAll(".fig-control").forEach(function (c) {
      c.addEventListener("change", function () { load(card); });
    });
    load(card);
  });
})();
