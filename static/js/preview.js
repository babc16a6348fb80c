/* Preview page: each scenario panel fetches its own server-rendered fragment.
 * Shared state (customer, model versions A/B, the cart) lives here and travels as query
 * parameters; POSTs (assistant, visual search) carry the form's CSRF token. */
(function () {
  "use strict";
  var root = document.getElementById("preview");
  if (!root) return;
  var globals = { customer: root.getAttribute("data-customer"), a: root.getAttribute("data-a"), b: root.getAttribute("data-b") };
  var cart = [];

  function globalParams() {
    var p = new URLSearchParams();
    Object.keys(globals).forEach(function (k) { if (globals[k]) p.set(k, globals[k]); });
    return p;
  }

  function formParams(form, p) {
    if (!form) return p;
    new FormData(form).forEach(function (value, key) {
      if (key === "csrfmiddlewaretoken" || typeof value !== "string" || value === "") return;
      p.set(key, value);
    });
    return p;
  }

  // A fetch that follows the session: an expired login sends the whole page to the login form.
  function fetchText(url, options) {
    options = options || {};
    options.credentials = "same-origin";
    options.headers = Object.assign({ "X-Requested-With": "fetch" }, options.headers || {});
    return fetch(url, options).then(function (r) {
      if (r.redirected && r.url.indexOf("/accounts/login/") !== -1) {
        window.location.href = r.url;
        throw new Error("login required");
      }
      return r.text().then(function (text) { return { status: r.status, text: text }; });
    });
  }

  function setBusy(el, busy) { if (busy) el.setAttribute("aria-busy", "true"); else el.removeAttribute("aria-busy"); }

  function loadPanel(panel) {
    var body = panel.querySelector(".panel-body");
    var form = panel.querySelector(".panel-controls");
    var url = panel.getAttribute("data-url") + "?" + formParams(form, globalParams()).toString();
    // Two quick changes (two items added to the cart) send two requests; only the latest may
    // fill the panel, whichever answers last.
    var ticket = (Number(panel.getAttribute("data-ticket")) || 0) + 1;
    panel.setAttribute("data-ticket", String(ticket));
    function current() { return panel.getAttribute("data-ticket") === String(ticket); }
    setBusy(body, true);
    return fetchText(url).then(function (res) {
      if (!current()) return;
      body.innerHTML = res.text;
      panel.setAttribute("data-status", String(res.status));
      setBusy(body, false);
    }).catch(function (err) {
      if (!current()) return;
      if (err.message !== "login required") body.innerHTML = '<p class="form-errors">Could not load this panel (' + err.message + ").</p>";
      setBusy(body, false);
    });
  }

  function postPanel(panel, form) {
    var data = new FormData(form);
    Object.keys(globals).forEach(function (k) { if (globals[k]) data.set(k, globals[k]); });
    return fetchText(panel.getAttribute("data-url"), { method: "POST", body: data });
  }

  function panel(name) { return document.querySelector('[data-panel="' + name + '"]'); }

  // --- scenario panels -------------------------------------------------------------------
  document.querySelectorAll("[data-panel]").forEach(function (p) {
    var form = p.querySelector(".panel-controls");
    var name = p.getAttribute("data-panel");
    if (form) {
      form.addEventListener("submit", function (ev) {
        ev.preventDefault();
        if (!form.hasAttribute("data-post")) { loadPanel(p); return; }
        var body = p.querySelector(".panel-body");
        if (name === "assistant") {
          var input = form.querySelector('[name="message"]');
          var text = input.value.trim();
          if (!text) return;
          var log = document.getElementById("chat-log");
          var mine = document.createElement("div");
          mine.className = "chat-msg chat-user";
          mine.textContent = text;
          log.appendChild(mine);
          var reply = document.createElement("div");
          reply.className = "chat-msg chat-bot";
          reply.textContent = "…";
          log.appendChild(reply);
          body.hidden = true;
          postPanel(p, form).then(function (res) {
            reply.innerHTML = res.text;
            reply.setAttribute("data-status", String(res.status));
            log.scrollTop = log.scrollHeight;
          });
          input.value = "";
        } else {
          setBusy(body, true);
          body.innerHTML = '<p class="chart-status">Searching…</p>';
          postPanel(p, form).then(function (res) {
            body.innerHTML = res.text;
            p.setAttribute("data-status", String(res.status));
            setBusy(body, false);
          });
        }
      });
      form.querySelectorAll("select, input[type=checkbox]").forEach(function (c) {
        c.addEventListener("change", function () { if (!form.hasAttribute("data-post")) loadPanel(p); });
      });
    }
    if (!form || !form.hasAttribute("data-post")) loadPanel(p);
  });

  // Feed: "Load more" replaces itself with the next page of its column.
  document.addEventListener("click", function (ev) {
    var btn = ev.target.closest(".load-more");
    if (!btn) return;
    btn.disabled = true;
    btn.textContent = "Loading…";
    fetchText(btn.getAttribute("data-more-url")).then(function (res) {
      btn.closest("li").outerHTML = res.text;
    });
  });

  // --- customer panel and search -----------------------------------------------------------
  var custPanel = document.getElementById("customer-panel");
  if (custPanel) {
    fetchText(custPanel.getAttribute("data-url") + "?" + globalParams().toString()).then(function (res) {
      custPanel.innerHTML = res.text;
    });
  }
  var custInput = document.getElementById("cust-q");
  var custResults = document.getElementById("cust-results");
  var timer = null;
  if (custInput) {
    custInput.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(function () {
        var p = new URLSearchParams({ q: custInput.value.trim() });
        if (globals.a) p.set("a", globals.a);
        if (globals.b) p.set("b", globals.b);
        fetchText(custInput.getAttribute("data-search-url") + "?" + p.toString()).then(function (res) {
          custResults.innerHTML = res.text;
        });
      }, 250);
    });
  }

  // --- item picker, cart, similar anchor ---------------------------------------------------
  var pickerForm = document.getElementById("picker-form");
  var pickerResults = document.getElementById("picker-results");
  function loadPicker() {
    var p = formParams(pickerForm, new URLSearchParams());
    return fetchText(pickerForm.getAttribute("data-url") + "?" + p.toString()).then(function (res) {
      pickerResults.innerHTML = res.text;
    });
  }
  if (pickerForm) {
    pickerForm.addEventListener("submit", function (ev) { ev.preventDefault(); loadPicker(); });
    loadPicker();
  }

  function renderCart() {
    var box = document.getElementById("cart");
    box.innerHTML = "";
    if (!cart.length) { box.innerHTML = '<span class="muted">empty</span>'; }
    cart.forEach(function (it) {
      var chip = document.createElement("span");
      chip.className = "chip";
      chip.setAttribute("data-cart-item", it.id);
      chip.appendChild(document.createTextNode(it.title + " (" + it.id + ") "));
      var rm = document.createElement("button");
      rm.type = "button";
      rm.className = "link";
      rm.setAttribute("data-remove-cart", it.id);
      rm.setAttribute("aria-label", "Remove " + it.title + " from the cart");
      rm.textContent = "×";
      chip.appendChild(rm);
      box.appendChild(chip);
    });
    var cs = panel("cross_sell");
    cs.querySelector('[name="items"]').value = cart.map(function (it) { return it.id; }).join(",");
    loadPanel(cs);
  }

  document.addEventListener("click", function (ev) {
    var add = ev.target.closest("[data-add-cart]");
    if (add) {
      var id = add.getAttribute("data-add-cart");
      if (!cart.some(function (it) { return it.id === id; })) cart.push({ id: id, title: add.getAttribute("data-title") || id });
      renderCart();
      return;
    }
    var rm = ev.target.closest("[data-remove-cart]");
    if (rm) {
      var rid = rm.getAttribute("data-remove-cart");
      cart = cart.filter(function (it) { return it.id !== rid; });
      renderCart();
      return;
    }
    var sim = ev.target.closest("[data-similar]");
    if (sim) {
      var sp = panel("similar");
      sp.querySelector('[name="item"]').value = sim.getAttribute("data-similar");
      loadPanel(sp);
      sp.scrollIntoView({ behavior: "smooth", block: "start" });
    }
  });
})();
