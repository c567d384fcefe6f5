// Small accessibility fixes to Material's markup, applied after every page load.
(function () {
  "use strict";

  function focusableScrollRegions(doc) {
    // A table wider than the column scrolls inside Material's wrapper; keyboard users need to reach it.
    doc.querySelectorAll(".md-typeset__scrollwrap, .rn-scroll").forEach(function (wrap) {
      if (wrap.scrollWidth > wrap.clientWidth + 1 && !wrap.hasAttribute("tabindex")) {
        wrap.setAttribute("tabindex", "0");
        wrap.setAttribute("role", "region");
        wrap.setAttribute("aria-label", "Scrollable table");
      }
    });
  }

  function label(doc) {
    // The search overlay has role="dialog" but no accessible name.
    var search = doc.querySelector(".md-search[role='dialog']");
    if (search && !search.hasAttribute("aria-label")) {
      search.setAttribute("aria-label", "Search");
    }
  }

  if (typeof window.document$ !== "undefined" && window.document$.subscribe) {
    window.document$.subscribe(function () {
      label(document);
      focusableScrollRegions(document);
    });
  } else {
    document.addEventListener("DOMContentLoaded", function () {
      label(document);
      focusableScrollRegions(document);
    });
  }
})();
