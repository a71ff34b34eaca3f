// i18next set-up: English is bundled, the other languages load on demand (one JSON file per
// language and namespace under src/locales/), and the document direction follows the language.
import i18n, { type BackendModule } from "i18next";
import { initReactI18next } from "react-i18next";
import enCommon from "../locales/en/common.json";

export const LANGUAGES = [
  { code: "en", name: "English", dir: "ltr" },
  { code: "pt-BR", name: "Português (Brasil)", dir: "ltr" },
  { code: "es", name: "Español", dir: "ltr" },
  { code: "zh-CN", name: "简体中文", dir: "ltr" },
  { code: "vi", name: "Tiếng Việt", dir: "ltr" },
  { code: "ar", name: "العربية", dir: "rtl" },
] as const;

export const NAMESPACES = [
  "common",
  "auth",
  "providers",
  "combos",
  "keys",
  "endpoint",
  "analytics",
  "costs",
  "logs",
  "health",
  "settings",
  "translator",
  "evals",
] as const;

// English common strings are bundled above; everything else loads on demand
const files = import.meta.glob(["../locales/*/*.json", "!../locales/en/common.json"]);

const lazy: BackendModule = {
  type: "backend",
  init() {},
  read(lng, ns, done) {
    const load = files[`../locales/${lng}/${ns}.json`];
    if (!load) {
      done(null, {});
      return;
    }
    load()
      .then((m) => done(null, (m as { default: Record<string, unknown> }).default))
      .catch((e: unknown) => done(e instanceof Error ? e : new Error(String(e)), null));
  },
};

const STORAGE = "omniroute.lang";

export function initialLanguage(): string {
  const saved = localStorage.getItem(STORAGE);
  if (saved && LANGUAGES.some((l) => l.code === saved)) return saved;
  for (const want of navigator.languages ?? []) {
    const exact = LANGUAGES.find((l) => l.code.toLowerCase() === want.toLowerCase());
    if (exact) return exact.code;
    const base = LANGUAGES.find((l) => l.code.split("-")[0] === want.split("-")[0]);
    if (base) return base.code;
  }
  return "en";
}

export function applyDirection(lng: string) {
  const lang = LANGUAGES.find((l) => l.code === lng);
  document.documentElement.lang = lng;
  document.documentElement.dir = lang?.dir ?? "ltr";
}

export async function setLanguage(lng: string) {
  localStorage.setItem(STORAGE, lng);
  await i18n.changeLanguage(lng);
}

i18n.on("languageChanged", applyDirection);

void i18n
  .use(lazy)
  .use(initReactI18next)
  .init({
    lng: initialLanguage(),
    fallbackLng: "en",
    ns: ["common"],
    defaultNS: "common",
    partialBundledLanguages: true,
    resources: { en: { common: enCommon } },
    interpolation: { escapeValue: false },
    returnNull: false,
    react: { useSuspense: true },
  });
applyDirection(i18n.language);

export default i18n;
