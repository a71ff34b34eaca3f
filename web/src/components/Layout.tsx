// The app shell: sidebar navigation, top bar with the language switcher, theme toggle and
// logout, and the page outlet.
import { useEffect, useState } from "react";
import { NavLink, Outlet, useLocation } from "react-router";
import { useTranslation } from "react-i18next";
import { LANGUAGES, setLanguage } from "../i18n";
import { useAuth } from "../auth";

const NAV: { group: string; items: { to: string; key: string }[] }[] = [
  { group: "nav.group_start", items: [{ to: "/", key: "nav.overview" }, { to: "/endpoint", key: "nav.endpoint" }] },
  {
    group: "nav.group_routing",
    items: [
      { to: "/providers", key: "nav.providers" },
      { to: "/combos", key: "nav.combos" },
      { to: "/keys", key: "nav.keys" },
    ],
  },
  {
    group: "nav.group_watch",
    items: [
      { to: "/analytics", key: "nav.analytics" },
      { to: "/costs", key: "nav.costs" },
      { to: "/logs", key: "nav.logs" },
      { to: "/status", key: "nav.health" },
    ],
  },
  {
    group: "nav.group_tools",
    items: [
      { to: "/translator", key: "nav.translator" },
      { to: "/evals", key: "nav.evals" },
      { to: "/settings", key: "nav.settings" },
    ],
  },
];

function useTheme(): [string, () => void] {
  const [theme, setTheme] = useState(() => document.documentElement.dataset.theme ?? "light");
  useEffect(() => {
    document.documentElement.dataset.theme = theme;
  }, [theme]);
  const toggle = () => {
    const next = theme === "dark" ? "light" : "dark";
    localStorage.setItem("omniroute.theme", next);
    setTheme(next);
  };
  return [theme, toggle];
}

export function LanguageSelect() {
  const { t, i18n } = useTranslation();
  return (
    <label className="row">
      <span className="sr-only">{t("language")}</span>
      <select value={i18n.language} onChange={(e) => void setLanguage(e.target.value)} aria-label={t("language")} data-testid="lang-select">
        {LANGUAGES.map((l) => (
          <option key={l.code} value={l.code}>
            {l.name}
          </option>
        ))}
      </select>
    </label>
  );
}

export function ThemeToggle() {
  const { t } = useTranslation();
  const [theme, toggle] = useTheme();
  return (
    <button type="button" onClick={toggle} aria-label={t("toggle_theme")} title={t("toggle_theme")} data-testid="theme-toggle">
      {theme === "dark" ? "☀" : "☾"}
    </button>
  );
}

export default function Layout() {
  const { t } = useTranslation();
  const { status, logout } = useAuth();
  const [open, setOpen] = useState(false);
  const location = useLocation();
  useEffect(() => setOpen(false), [location.pathname]);

  return (
    <div className="shell">
      <aside className={`sidebar ${open ? "open" : ""}`} aria-label={t("nav.label")}>
        <div className="sidebar-inner">
          <div className="brand">
            <img src="/favicon.svg" alt="" />
            <span>OmniRoute</span>
          </div>
          <nav className="nav">
            {NAV.map((g) => (
              <div key={g.group}>
                <div className="nav-group">{t(g.group)}</div>
                {g.items.map((i) => (
                  <NavLink key={i.to} to={i.to} end={i.to === "/"}>
                    {t(i.key)}
                  </NavLink>
                ))}
              </div>
            ))}
          </nav>
        </div>
      </aside>
      <div className="main">
        <header className="topbar">
          <button type="button" className="menu-btn" onClick={() => setOpen(!open)} aria-label={t("menu")} aria-expanded={open}>
            ☰
          </button>
          <div className="spacer" />
          <LanguageSelect />
          <ThemeToggle />
          {status?.logged_in && (
            <button type="button" onClick={() => void logout()} data-testid="logout">
              {t("logout")}
            </button>
          )}
        </header>
        <main className="content" id="main">
          <Outlet />
        </main>
      </div>
    </div>
  );
}
