// Accessible names for the slider handles of the book's Bokeh figures.
//
// noUiSlider, which BokehJS uses for its sliders, gives each handle
// role="slider" and an aria-valuetext, but no name: a screen reader announces
// "slider, 1" without saying what the 1 is. The name is the slider's title,
// which Bokeh shows above the handle as "title: value" in the same shadow root.
// This script gives every handle that title as its aria-label once BokehJS has
// drawn the figure (it polls for a few seconds: the figures render
// asynchronously, inside shadow roots that no MutationObserver on the document
// sees), and keeps it in step with the title (an observer on the title itself).
// Served from _bokeh/ by _ext/bokeh_static.py.
(function () {
  "use strict";

  function handles(root, found) {
    for (const el of root.querySelectorAll("*")) {
      if (el.getAttribute("role") === "slider") found.push(el);
      if (el.shadowRoot) handles(el.shadowRoot, found);
    }
    return found;
  }

  // The handle's name: its title without the ": value" that follows it.
  function name(handle, title) {
    const text = title.textContent.replace(/: [^:]*$/, "");
    if (text && handle.getAttribute("aria-label") !== text) {
      handle.setAttribute("aria-label", text);
    }
  }

  // Name every handle found, and rename it whenever its title changes (a
  // figure's script may retitle a slider: chapter 4's follows the true class);
  // true while some figure is not drawn yet.
  const watched = new WeakSet();
  function nameHandles() {
    let pending = false;
    for (const figure of document.querySelectorAll("[data-bokeh-figure]")) {
      const found = handles(figure, []);
      if (found.length === 0) pending = true;
      for (const handle of found) {
        const title = handle.getRootNode().querySelector(".bk-slider-title");
        if (!title || !title.textContent) {
          pending = true;
          continue;
        }
        name(handle, title);
        if (!watched.has(handle)) {
          watched.add(handle);
          new MutationObserver(function () { name(handle, title); }).observe(
            title, {childList: true, characterData: true, subtree: true});
        }
      }
    }
    return pending;
  }

  let tries = 0;
  const timer = setInterval(function () {
    if (!nameHandles() || ++tries >= 100) clearInterval(timer);
  }, 100);
})();
