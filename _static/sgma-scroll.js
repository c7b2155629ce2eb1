// A box that scrolls sideways (a code block with long lines, a table wider than a phone) says so. The box that
// scrolls for each table and code block of the page (itself, or the nearest wrapper that scrolls) is put in a frame,
// div.sgma-scroll-frame, that shows a shadow on each side where more is hidden (sgma.css), updated as the reader
// scrolls and as the box or its content changes size (a folded cell opened, math typeset, a font loaded).
// tests/browser_check.py finds the same boxes and fails on one that hides content without the shadow.
(() => {
  const scrolls = (el) => /^(auto|scroll)$/.test(getComputedStyle(el).overflowX);

  function scroller(element, main) {
    for (let a = element; a && a !== main; a = a.parentElement) if (scrolls(a)) return a;
    return null;
  }

  function update(frame, box) {
    const hidden = box.scrollWidth - box.clientWidth;
    frame.classList.toggle("sgma-more-left", hidden > 1 && box.scrollLeft > 1);
    frame.classList.toggle("sgma-more-right", hidden > 1 && box.scrollLeft < hidden - 1);
  }

  function enframe(box) {
    if (box.parentElement.classList.contains("sgma-scroll-frame")) return;
    const frame = document.createElement("div");
    frame.className = "sgma-scroll-frame";
    box.parentNode.insertBefore(frame, box);
    frame.appendChild(box);
    const go = () => update(frame, box);
    box.addEventListener("scroll", go, { passive: true });
    const sizes = new ResizeObserver(go);
    sizes.observe(box);
    if (box.firstElementChild) sizes.observe(box.firstElementChild);
    window.addEventListener("load", go);
    go();
  }

  function start() {
    const main = document.querySelector("main");
    if (!main) return;
    const boxes = new Set();
    main.querySelectorAll("table, pre").forEach((e) => { const box = scroller(e, main); if (box) boxes.add(box); });
    boxes.forEach(enframe);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
  window.addEventListener("load", start);  // boxes whose style arrived late
})();
