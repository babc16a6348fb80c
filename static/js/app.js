/* JewelRec dashboard: small progressive enhancements; every page works without them. */
(function () {
  "use strict";

  // Destructive forms ask first. The server still requires POST + CSRF, and a GET of the
  // same URL shows a confirmation page for people without JavaScript.
  document.addEventListener("submit", function (ev) {
    var form = ev.target;
    var msg = form.getAttribute("data-confirm");
    if (msg && !window.confirm(msg)) {
      ev.preventDefault();
    }
  });

  // Copy buttons (API key secret).
  document.addEventListener("click", function (ev) {
    var btn = ev.target.closest("[data-copy-target]");
    if (!btn) return;
    var el = document.getElementById(btn.getAttribute("data-copy-target"));
    if (!el || !navigator.clipboard) return;
    navigator.clipboard.writeText(el.textContent.trim()).then(function () {
      btn.textContent = "Copied";
    });
  });

  // Live job progress: any element with data-job-status-url is refreshed while the job is
  // queued or running. Children with data-field="status|progress|message|duration|log" are updated.
  var ACTIVE = { queued: true, running: true };

  function fmtDuration(s) {
    if (s === null || s === undefined) return "–";
    s = Math.round(s);
    if (s < 60) return s + " s";
    var m = Math.floor(s / 60), r = s % 60;
    if (m < 60) return m + " min " + r + " s";
    return Math.floor(m / 60) + " h " + (m % 60) + " min";
  }

  function render(root, data) {
    root.setAttribute("data-status", data.status);
    root.querySelectorAll("[data-field]").forEach(function (el) {
      var f = el.getAttribute("data-field");
      if (f === "status") {
        el.textContent = data.status_label;
        el.className = "badge badge-" + data.status;
      } else if (f === "progress") {
        el.value = data.progress;
        el.textContent = Math.round(data.progress * 100) + "%";
      } else if (f === "percent") {
        el.textContent = Math.round(data.progress * 100) + "%";
      } else if (f === "message") {
        el.textContent = data.message;
      } else if (f === "steps") {
        el.textContent = data.steps_text ? " · " + data.steps_text : "";
      } else if (f === "eta") {
        el.textContent = data.eta_text ? " · " + data.eta_text : "";
      } else if (f === "duration") {
        el.textContent = fmtDuration(data.duration_seconds);
      } else if (f === "error") {
        el.textContent = data.error || "";
        el.hidden = !data.error;
      } else if (f === "log" && Array.isArray(data.log)) {
        el.textContent = data.log.map(function (l) { return l.at + "  " + l.message; }).join("\n");
        el.scrollTop = el.scrollHeight;
      } else if (f === "cancel") {
        el.hidden = !ACTIVE[data.status] || data.cancel_requested;
      }
    });
  }

  function poll(root) {
    var url = root.getAttribute("data-job-status-url");
    var interval = parseInt(root.getAttribute("data-poll-ms") || "1500", 10);
    function tick() {
      fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (r) { if (!r.ok) throw new Error(r.status); return r.json(); })
        .then(function (data) {
          render(root, data);
          if (ACTIVE[data.status]) setTimeout(tick, interval);
        })
        .catch(function () { setTimeout(tick, interval * 4); });
    }
    setTimeout(tick, interval);
  }

  // A list with many queued jobs would otherwise poll dozens of URLs every two seconds.
  var MAX_POLLERS = 10, pollers = 0;
  document.querySelectorAll("[data-job-status-url]").forEach(function (root) {
    if (ACTIVE[root.getAttribute("data-status")] && pollers < MAX_POLLERS) { pollers += 1; poll(root); }
  });
})();
