// The review desk's keys (FraudReviewAdmin's decision page): a approve, r reject (the reason gets the focus;
// Enter on it rejects), n next open review, ? help. Loaded as a static file: no inline script, so it works
// under a Content-Security-Policy of script-src 'self'. Keys do nothing while the user types in a field.
"use strict";
(function () {
    function typing(target) {
        return target instanceof Element && target.closest("input, textarea, select, [contenteditable]") !== null;
    }

    function toggleHelp(force) {
        const help = document.getElementById("desk-help");
        const toggle = document.getElementById("desk-help-toggle");
        if (!help) {
            return;
        }
        help.hidden = force === undefined ? !help.hidden : !force;
        if (toggle) {
            toggle.setAttribute("aria-expanded", String(!help.hidden));
        }
    }

    function submitWith(buttonId) {
        const button = document.getElementById(buttonId);
        if (button && button.form) {
            button.form.requestSubmit(button);
        }
    }

    function start() {
        if (!document.body.classList.contains("desk-page")) {
            return;
        }
        const toggle = document.getElementById("desk-help-toggle");
        if (toggle) {
            toggle.addEventListener("click", function () { toggleHelp(); });
        }
        const reason = document.getElementById("id_resolution");
        if (reason) {
            reason.addEventListener("keydown", function (event) {
                if (event.key === "Enter" && reason.value) {
                    event.preventDefault();
                    submitWith("desk-reject");
                }
            });
        }
        document.addEventListener("keydown", function (event) {
            if (event.ctrlKey || event.metaKey || event.altKey || event.defaultPrevented || typing(event.target)) {
                if (event.key === "Escape") {
                    toggleHelp(false);
                }
                return;
            }
            if (event.key === "a") {
                event.preventDefault();
                submitWith("desk-approve");
            } else if (event.key === "r" && reason) {
                event.preventDefault();
                reason.focus();
            } else if (event.key === "n") {
                const next = document.getElementById("desk-next");
                if (next) {
                    event.preventDefault();
                    window.location.assign(next.href);
                }
            } else if (event.key === "?") {
                event.preventDefault();
                toggleHelp();
            } else if (event.key === "Escape") {
                toggleHelp(false);
            }
        });
    }

    if (document.readyState === "loading") {
        document.addEventListener("DOMContentLoaded", start);
    } else {
        start();
    }
})();
