// Pricegate: progressive enhancement only; every page works without this file.
//
// A form is sent once: a second press of its button while the first answer is
// on its way (a double click on a slow line) would draft a second quote or
// import a price list twice. The buttons say so until the page is left; a
// page brought back by the Back button is usable again.
(function () {
  "use strict";
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (event.defaultPrevented || !(form instanceof HTMLFormElement)) {
      return;
    }
    if (form.getAttribute("data-sending") === "1") {
      event.preventDefault();
      return;
    }
    form.setAttribute("data-sending", "1");
    // After this event the browser has read the pressed button's name and value.
    window.setTimeout(function () {
      var buttons = form.querySelectorAll("button");
      for (var i = 0; i < buttons.length; i++) {
        buttons[i].setAttribute("aria-disabled", "true");
      }
    }, 0);
    // Stopped by the person (Esc), or no answer at all: the form is usable again.
    window.setTimeout(function () {
      usable(form);
    }, 15000);
  });

  function usable(form) {
    form.removeAttribute("data-sending");
    var buttons = form.querySelectorAll("button[aria-disabled]");
    for (var i = 0; i < buttons.length; i++) {
      buttons[i].removeAttribute("aria-disabled");
    }
  }

  window.addEventListener("pageshow", function () {
    var forms = document.querySelectorAll("form[data-sending]");
    for (var i = 0; i < forms.length; i++) {
      usable(forms[i]);
    }
  });
})();

// A page that answers a form it refused (a quote's "Not finalised") is shown
// at the form's address, so a reload would send the form again, and might do
// what was refused once its reason is gone. The page's own address takes the
// form's place in this tab's history: a reload reads the page afresh.
(function () {
  "use strict";
  var here = document.body && document.body.getAttribute("data-here");
  if (!here || !window.history || !window.history.replaceState) {
    return;
  }
  if (window.location.pathname + window.location.search !== here) {
    window.history.replaceState(window.history.state, "", here);
  }
})();

// The notice form's preview follows the text and the price changes as finance
// types: both are posted (with the form's CSRF token) to the server, which
// renders them as the notice page does (the same Markdown renderer, raw HTML
// escaped; each change with the price it moves from).
(function () {
  "use strict";
  var source = document.querySelector("textarea[data-preview-url]");
  if (!source || !source.form || !window.fetch || !window.URLSearchParams) {
    return;
  }
  var target = document.getElementById(source.getAttribute("data-preview-target"));
  var token = source.form.elements.namedItem("csrf_token");
  if (!target || !token) {
    return;
  }
  var url = source.getAttribute("data-preview-url");
  var also = document.getElementById(source.getAttribute("data-preview-also") || "");
  var hint = document.getElementById("preview-hint");
  if (hint) {
    hint.textContent = "How the notice will read; it follows the text and the price changes as you type.";
  }
  var timer = null;
  var latest = 0;

  function refresh() {
    var sent = ++latest;
    var data = new URLSearchParams();
    data.set("csrf_token", token.value);
    data.set("body", source.value);
    if (also) {
      data.set(also.name, also.value);
    }
    fetch(url, { method: "POST", body: data, credentials: "same-origin", headers: { Accept: "text/html" } })
      .then(function (response) {
        return response.ok ? response.text() : null;
      })
      .then(function (html) {
        // An answer overtaken by a later keystroke is dropped.
        if (html !== null && sent === latest) {
          target.innerHTML = html;
        }
      })
      .catch(function () {
        // Offline or refused: the Preview button still works.
      });
  }

  function later() {
    window.clearTimeout(timer);
    timer = window.setTimeout(refresh, 250);
  }
  source.addEventListener("input", later);
  // The title is shown as typed: it needs no server.
  var title = source.form.elements.namedItem("title");
  var shownTitle = document.getElementById("preview-title");
  if (title && shownTitle) {
    title.addEventListener("input", function () {
      shownTitle.textContent = title.value.trim() === "" ? "(no title yet)" : title.value;
    });
  }
  if (also) {
    also.addEventListener("input", later);
  }
})();

// The CSV import takes a file too: its text goes into the form's box, to be
// previewed and imported as if it had been pasted there. Without this script
// the box alone is shown (a file field cannot be sent with the form's text).
(function () {
  "use strict";
  var picker = document.getElementById("csv-file");
  var box = document.getElementById("csv");
  var row = document.getElementById("csv-file-row");
  var note = document.getElementById("csv-file-note");
  if (!picker || !box || !row || !note || !window.FileReader) {
    return;
  }
  // Well inside what a form may send once its commas are percent-encoded;
  // the API (POST /api/v1/products/import) takes up to 4 MiB.
  var largest = 512 * 1024;
  // The file whose text the box holds, as it was put there.
  var loaded = null;
  // A file refused after another was chosen: the other's text, unchanged in
  // the box, must not be imported in its place. What was typed there stays.
  function forgetLoaded() {
    var was = loaded;
    loaded = null;
    if (!was || box.value !== was.text) {
      return "";
    }
    box.value = "";
    return " The box below no longer holds " + was.name + ".";
  }
  row.hidden = false;
  picker.addEventListener("change", function () {
    var file = picker.files && picker.files[0];
    if (!file) {
      return;
    }
    if (file.size > largest) {
      note.textContent = file.name + " is " + Math.ceil(file.size / 1024) + " KiB: this form takes up to 512 KiB. " +
        "Split it, or import it through the API." + forgetLoaded();
      return;
    }
    var reader = new FileReader();
    reader.onload = function () {
      var text = String(reader.result);
      // A byte that is not UTF-8 reads as U+FFFD: the names would be garbled.
      if (text.indexOf("\uFFFD") !== -1) {
        note.textContent = file.name + " is not UTF-8 text. Save it as \u201cCSV UTF-8\u201d and choose it again." +
          forgetLoaded();
        return;
      }
      box.value = text;
      loaded = { name: file.name, text: text };
      var lines = text.split(/\r\n|\n|\r/).filter(function (line) { return line.trim() !== ""; }).length;
      note.textContent = file.name + ": " + lines + " line" + (lines === 1 ? "" : "s") +
        " in the box below. Preview them, then import.";
    };
    reader.onerror = function () {
      note.textContent = file.name + " could not be read.";
    };
    reader.readAsText(file, "utf-8");
  });
})();

// A quote line's product, its price and any price to come are spelt out under
// its list, which a long name cuts short; the server writes it for the product
// the line was saved with, and this follows a new choice, and a choice the
// browser brings back on reload or Back. On a large price list a line's
// product is typed, suggested from one list: the words follow a SKU typed
// as that list holds it, and go while it holds none such.
(function () {
  "use strict";
  function chosenText(control) {
    if (control instanceof HTMLSelectElement) {
      var chosen = control.options[control.selectedIndex];
      return chosen && chosen.value ? chosen.text : "";
    }
    var options = control.list ? control.list.options : [];
    var sku = control.value.trim();
    for (var i = 0; i < options.length; i++) {
      if (options[i].value === sku) {
        return options[i].text;
      }
    }
    return "";
  }
  // Each day and amount on one line, as the server's `whole` filter keeps
  // them: what comes before one (not within a word or number), then it.
  var WHOLE = /(^|[^\w:.,-])(\d{4}-\d{2}-\d{2}|[+-]?\d{1,3}(?:,\d{3})*(?:\.\d+)? [A-Z]{3})(?![\w-])/g;
  function spell(control) {
    var product = document.getElementById(control.id + "-product");
    if (product) {
      var text = chosenText(control);
      var at = 0;
      var found;
      product.textContent = "";
      WHOLE.lastIndex = 0;
      while ((found = WHOLE.exec(text)) !== null) {
        var start = found.index + found[1].length;
        product.appendChild(document.createTextNode(text.slice(at, start)));
        var whole = document.createElement("span");
        whole.className = "nw";
        whole.textContent = found[2];
        product.appendChild(whole);
        at = start + found[2].length;
      }
      product.appendChild(document.createTextNode(text.slice(at)));
    }
  }
  function isLineProduct(target) {
    return target instanceof HTMLSelectElement || (target instanceof HTMLInputElement && target.list);
  }
  ["change", "input"].forEach(function (kind) {
    document.addEventListener(kind, function (event) {
      if (isLineProduct(event.target)) {
        spell(event.target);
      }
    });
  });
  window.addEventListener("pageshow", function () {
    var controls = document.querySelectorAll("select, input[list]");
    for (var i = 0; i < controls.length; i++) {
      spell(controls[i]);
    }
  });
})();

// A new quote's or notice's form carries a key (`draft_id`) by which a second
// sending of it leads to what the first one saved. Back, after saving, brings
// the form back as it was typed but fetched again, with a new key: the key it
// was sent with is put back, so that saving again drafts nothing twice (the
// server leads to what was saved, or, if something was changed, says so and
// keeps what was typed). The key sent is kept in that page's own entry of
// the tab's history, so a form opened afresh (another entry) keeps its own.
(function () {
  "use strict";
  var SENT = "pricegate:sent-key";
  if (!window.history || typeof window.history.replaceState !== "function") {
    return;
  }
  // The browser put back what was typed: some field differs from the page's own.
  function restored(form) {
    for (var i = 0; i < form.elements.length; i++) {
      var field = form.elements[i];
      if (field instanceof HTMLSelectElement) {
        // A list marks its first option chosen when the page marks none.
        var chosen = 0;
        for (var j = 0; j < field.options.length; j++) {
          if (field.options[j].defaultSelected) {
            chosen = j;
          }
        }
        if (field.options.length > 0 && field.selectedIndex !== chosen) {
          return true;
        }
      } else if (field instanceof HTMLTextAreaElement || (field instanceof HTMLInputElement && field.type !== "hidden")) {
        var checkable = field.type === "checkbox" || field.type === "radio";
        if (checkable ? field.checked !== field.defaultChecked : field.value !== field.defaultValue) {
          return true;
        }
      }
    }
    return false;
  }
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var key = form instanceof HTMLFormElement ? form.elements.namedItem("draft_id") : null;
    if (key instanceof HTMLInputElement) {
      var state = {};
      var current = window.history.state;
      if (current && typeof current === "object") {
        for (var name in current) {
          if (Object.prototype.hasOwnProperty.call(current, name)) {
            state[name] = current[name];
          }
        }
      }
      state[SENT] = { action: form.getAttribute("action"), key: key.value };
      try {
        window.history.replaceState(state, "");
      } catch (e) {
        // Refused: the server still refuses a second sending as it was.
      }
    }
  });
  window.addEventListener("pageshow", function () {
    var sent = window.history.state && window.history.state[SENT];
    if (!sent) {
      return;
    }
    var keys = document.querySelectorAll("form input[name=draft_id]");
    for (var i = 0; i < keys.length; i++) {
      if (keys[i].form.getAttribute("action") === sent.action && restored(keys[i].form)) {
        keys[i].value = sent.key;
      }
    }
  });
})();
