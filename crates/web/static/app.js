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

// The notice form's preview follows the text as finance types: the text is
// posted (with the form's CSRF token) to the server, which renders it with the
// same Markdown renderer as the notice page, raw HTML escaped.
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
  var hint = document.getElementById("preview-hint");
  if (hint) {
    hint.textContent = "How the notice will read; it follows the text as you type.";
  }
  var timer = null;
  var latest = 0;

  function refresh() {
    var sent = ++latest;
    var data = new URLSearchParams();
    data.set("csrf_token", token.value);
    data.set("body", source.value);
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

  source.addEventListener("input", function () {
    window.clearTimeout(timer);
    timer = window.setTimeout(refresh, 250);
  });
})();
