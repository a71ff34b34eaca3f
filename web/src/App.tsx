// The gate and the routes: first run → onboarding (password first), password set and no
// session → login, forced password change, otherwise the dashboard pages (each loaded on demand).
import { lazy, Suspense } from "react";
import { BrowserRouter, Navigate, Route, Routes } from "react-router";
import { useTranslation } from "react-i18next";
import { AuthProvider, useAuth } from "./auth";
import Layout from "./components/Layout";
import { ErrorBox, Spinner } from "./components/ui";
import Login, { ChangePassword, SetupElsewhere } from "./pages/Login";

const Overview = lazy(() => import("./pages/Overview"));
const Onboarding = lazy(() => import("./pages/Onboarding"));
const Providers = lazy(() => import("./pages/Providers"));
const Combos = lazy(() => import("./pages/Combos"));
const Keys = lazy(() => import("./pages/Keys"));
const Endpoint = lazy(() => import("./pages/Endpoint"));
const Analytics = lazy(() => import("./pages/Analytics"));
const Costs = lazy(() => import("./pages/Costs"));
const Logs = lazy(() => import("./pages/Logs"));
const Health = lazy(() => import("./pages/Health"));
const Translator = lazy(() => import("./pages/Translator"));
const Evals = lazy(() => import("./pages/Evals"));
const Settings = lazy(() => import("./pages/Settings"));

function Loading() {
  return (
    <div className="auth-wrap">
      <Spinner />
    </div>
  );
}

function Gate() {
  const { status, error, refresh } = useAuth();
  const { t } = useTranslation();
  if (!status) {
    return error ? (
      <div className="auth-wrap">
        <div className="card auth-card">
          <h1>OmniRoute</h1>
          <p>{t("unreachable")}</p>
          <ErrorBox error={error} onRetry={() => void refresh()} />
        </div>
      </div>
    ) : (
      <Loading />
    );
  }
  if (!status.password_set) {
    if (!status.setup_allowed) return <SetupElsewhere />;
    return (
      <Suspense fallback={<Loading />}>
        <Onboarding firstRun />
      </Suspense>
    );
  }
  if (!status.logged_in) return <Login />;
  if (status.must_change_password) return <ChangePassword forced />;
  return (
    <Suspense fallback={<Loading />}>
      <Routes>
        <Route path="/onboarding" element={<Onboarding />} />
        <Route element={<Layout />}>
          <Route index element={<Page el={<Overview />} />} />
          <Route path="providers" element={<Page el={<Providers />} />} />
          <Route path="combos" element={<Page el={<Combos />} />} />
          <Route path="keys" element={<Page el={<Keys />} />} />
          <Route path="endpoint" element={<Page el={<Endpoint />} />} />
          <Route path="analytics" element={<Page el={<Analytics />} />} />
          <Route path="costs" element={<Page el={<Costs />} />} />
          <Route path="logs" element={<Page el={<Logs />} />} />
          {/* `/health` is the gateway's liveness probe */}
          <Route path="status" element={<Page el={<Health />} />} />
          <Route path="translator" element={<Page el={<Translator />} />} />
          <Route path="evals" element={<Page el={<Evals />} />} />
          <Route path="settings" element={<Page el={<Settings />} />} />
          <Route path="*" element={<Navigate to="/" replace />} />
        </Route>
      </Routes>
    </Suspense>
  );
}

/** A page inside the shell: its own suspense boundary so the shell stays while it loads. */
function Page({ el }: { el: React.ReactNode }) {
  return <Suspense fallback={<Spinner />}>{el}</Suspense>;
}

export default function App() {
  return (
    <BrowserRouter>
      <AuthProvider>
        <Suspense fallback={<Loading />}>
          <Gate />
        </Suspense>
      </AuthProvider>
    </BrowserRouter>
  );
}
