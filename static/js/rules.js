/* Rule form: value pickers that follow the target, an item finder, and a preview of the
 * rule's effect before saving. The form works without them (the server validates). */
(function () {
  "use strict";
  var form = document.getElementById("rule-form");
  if (!form) return;
  var target = form.querySelector("[name=target]");
  var value = form.querySelector("[name=value]");
  var finder = form.querySelector("[data-item-finder]");
  var results = finder && finder.querySelector("[data-item-results]");
  var query = finder && finder.querySelector("input[type=search]");
  var csrf = form.querySelector("[name=csrfmiddlewaretoken]").value;

  function fetchText(url, options) {
    options = Object.assign({ credentials: "same-origin" }, options || {});
    options.headers = Object.assign({ "X-Requested-With": "fetch" }, options.headers || {});
    return fetch(url, options).then(function (r) { return r.text(); });
  }

  function followTarget() {
    var kind = target.value;
    if (kind === "item") { value.removeAttribute("list"); } else { value.setAttribute("list", "values-" + kind); }
    if (finder) finder.hidden = kind !== "item";
  }

  var timer = null;
  function findItems() {
    var url = finder.getAttribute("data-url") + "?" + new URLSearchParams({ q: query.value.trim() }).toString();
    fetchText(url).then(function (html) {
      results.innerHTML = html;
      results.querySelectorAll("li[data-item-id]").forEach(function (li) {
        var actions = li.querySelector(".picker-actions");
        if (!actions) return;
        actions.innerHTML = "";
        var use = document.createElement("button");
        use.type = "button";
        use.textContent = "Use this item";
        use.setAttribute("data-use-item", li.getAttribute("data-item-id"));
        actions.appendChild(use);
      });
    });
  }

  if (target) { target.addEventListener("change", followTarget); followTarget(); }
  if (query) {
    query.addEventListener("input", function () { clearTimeout(timer); timer = setTimeout(findItems, 250); });
    results.addEventListener("click", function (ev) {
      var btn = ev.target.closest("[data-use-item]");
      if (!btn) return;
      value.value = btn.getAttribute("data-use-item");
      value.dispatchEvent(new Event("change"));
    });
  }

  var previewBtn = form.querySelector("[data-rule-preview]");
  var previewBody = form.querySelector("[data-rule-preview-body]");
  if (previewBtn) {
    previewBtn.addEventListener("click", function () {
      previewBody.setAttribute("aria-busy", "true");
      fetchText(form.getAttribute("data-preview-url"), { method: "POST", body: new FormData(form), headers: { "X-CSRFToken": csrf } })
        .then(function (html) { previewBody.innerHTML = html; })
        .catch(function (err) { previewBody.innerHTML = '<p class="form-errors">Could not preview (' + err.message + ").</p>"; })
        .then(function () { previewBody.removeAttribute("aria-busy"); });
    });
  }
})();
