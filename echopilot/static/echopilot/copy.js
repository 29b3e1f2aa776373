"use strict";
// Copy buttons of the admin (the API key's created page): <button data-copy-target="<id of a readonly input>">.
// Our own file, loaded from this server, so it runs under the staff pages' Content-Security-Policy.
(function () {
  function say(text) {
    var status = document.querySelector(".api-key-copied");
    if (status) {
      status.textContent = text;
    }
  }

  function copy(button) {
    var input = document.getElementById(button.dataset.copyTarget);
    if (!input) {
      return;
    }
    input.focus();
    input.select();
    var done = function () {
      button.textContent = button.dataset.copiedText || "Copied";
      say("The key is on the clipboard.");
    };
    var fallback = function () {
      // The text stays selected, so Ctrl+C / the phone's Copy works when the clipboard is refused.
      var copied = false;
      try {
        copied = document.execCommand("copy");
      } catch (error) {
        copied = false;
      }
      if (copied) {
        done();
      } else {
        say("Copying was refused by the browser: the key is selected, copy it by hand.");
      }
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(input.value).then(done, fallback);
    } else {
      fallback();
    }
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy-target]");
    if (button) {
      copy(button);
    }
  });
})();
