// Theme before first paint (no flash of the wrong colours): the saved choice, else the system's.
try {
  var t = localStorage.getItem("omniroute.theme");
  if (t !== "light" && t !== "dark") t = matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light";
  document.documentElement.dataset.theme = t;
} catch (e) {}
