// Sphinx's search quotes a page's text as its HTML file holds it, before MathJax has typeset the math, so a
// quote showed "\(\theta^\top W \phi(y)\)". Here the quote is taken from the page with each piece of math written
// as plain text ("θ^⊤ W φ(y)"). Sphinx's searchtools.js defines `Search`; this wraps its htmlToText.
(() => {
  const SYMBOLS = {
    alpha: "α", beta: "β", gamma: "γ", delta: "δ", epsilon: "ε", varepsilon: "ε", zeta: "ζ", eta: "η",
    theta: "θ", iota: "ι", kappa: "κ", lambda: "λ", mu: "μ", nu: "ν", xi: "ξ", pi: "π", rho: "ρ", sigma: "σ",
    tau: "τ", upsilon: "υ", phi: "φ", varphi: "φ", chi: "χ", psi: "ψ", omega: "ω", Gamma: "Γ", Delta: "Δ",
    Theta: "Θ", Lambda: "Λ", Pi: "Π", Sigma: "Σ", Phi: "Φ", Psi: "Ψ", Omega: "Ω", top: "⊤", cdot: "·",
    times: "×", in: "∈", le: "≤", leq: "≤", ge: "≥", geq: "≥", neq: "≠", approx: "≈", pm: "±", sum: "Σ",
    prod: "∏", infty: "∞", to: "→", rightarrow: "→", mapsto: "↦", leftarrow: "←", odot: "⊙", otimes: "⊗",
    ldots: "…", dots: "…", cdots: "⋯", lVert: "‖", rVert: "‖", langle: "⟨", rangle: "⟩", partial: "∂",
    nabla: "∇", sqrt: "√", ell: "ℓ",
  };
  const SPACES = /\\(?:quad|qquad|,|;|:|!| )/g;
  const SIZES = /\\(?:left|right|big|Big|bigg|Bigg)(?![A-Za-z])/g;

  // TeX as a line of plain text: delimiters, tags, labels and environments dropped; \mathbb{R} as ℝ; \frac{a}{b}
  // as (a)/(b); a font or text command as its argument; a known symbol as its character; braces dropped.
  function texAsText(tex) {
    let s = tex.trim().replace(/^(\\\(|\\\[|\$\$?)/, "").replace(/(\\\)|\\\]|\$\$?)$/, "");
    s = s.replace(/\\(?:tag|label)\*?\{[^{}]*\}/g, "").replace(/\\(?:begin|end)\{[^{}]*\}/g, "");
    s = s.replace(/\\\\/g, " ").replace(/&/g, "").replace(SPACES, " ").replace(SIZES, "");
    s = s.replace(/\\mathbb\{R\}/g, "ℝ");
    for (let i = 0; i < 4 && /\\frac/.test(s); i++) s = s.replace(/\\frac\{([^{}]*)\}\{([^{}]*)\}/g, "($1)/($2)");
    s = s.replace(/\\(?:text|mathrm|mathbf|mathit|mathcal|mathbb|boldsymbol|operatorname)\*?\{([^{}]*)\}/g, "$1");
    s = s.replace(/\\([A-Za-z]+)/g, (whole, name) => SYMBOLS[name] ?? name);
    return s.replace(/[{}]/g, "").replace(/\s+/g, " ").trim();
  }

  function withPlainMath(htmlString) {
    const doc = new DOMParser().parseFromString(htmlString, "text/html");
    doc.querySelectorAll(".math").forEach((m) => {  // a display equation is a block: spaces keep it off its neighbours
      m.textContent = m.tagName === "DIV" ? ` ${texAsText(m.textContent)} ` : texAsText(m.textContent);
    });
    return doc.documentElement.outerHTML;
  }

  function patch() {
    if (typeof Search === "undefined" || !Search.htmlToText || Search.sgmaPlainMath) return;
    const htmlToText = Search.htmlToText;
    Search.htmlToText = (htmlString, anchor) => htmlToText(withPlainMath(htmlString), anchor);
    Search.sgmaPlainMath = texAsText;
  }

  // searchtools.js may load after this file; its first search fetches pages only after the page has loaded
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", patch);
  else patch();
})();
