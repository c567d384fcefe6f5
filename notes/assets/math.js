// Typeset math with the KaTeX copy served by this site (see scripts/site_assets.sh).
// pymdownx.arithmatex (generic mode) wraps math as \( ... \) and \[ ... \] inside .arithmatex elements;
// notebook outputs embedded by repronotes may carry $...$ and $$...$$ from Markdown cells.
(function () {
  "use strict";

  var delimiters = [
    { left: "$$", right: "$$", display: true },
    { left: "\\[", right: "\\]", display: true },
    { left: "\\(", right: "\\)", display: false },
    { left: "$", right: "$", display: false },
  ];

  function typeset(root) {
    if (typeof window.renderMathInElement !== "function") {
      return;
    }
    window.renderMathInElement(root, {
      delimiters: delimiters,
      throwOnError: false,
      ignoredClasses: ["no-math"],
    });
  }

  if (typeof window.document$ !== "undefined" && window.document$.subscribe) {
    // Material's observable fires on first load and after every instant navigation.
    window.document$.subscribe(function (doc) {
      typeset(doc.body || document.body);
    });
  } else {
    document.addEventListener("DOMContentLoaded", function () {
      typeset(document.body);
    });
  }
})();
