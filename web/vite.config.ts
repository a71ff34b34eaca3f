// Vite build of the dashboard: static assets in dist/, embedded into the omniroute binary.
import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";

const gateway = process.env.OMNIROUTE_URL ?? "http://127.0.0.1:20128";

export default defineConfig({
  plugins: [react()],
  base: "/",
  build: {
    outDir: "dist",
    assetsDir: "assets",
    sourcemap: false,
    chunkSizeWarningLimit: 600,
  },
  server: {
    proxy: {
      "/api": { target: gateway, changeOrigin: false },
      "/v1": { target: gateway, changeOrigin: false },
      "/openapi.json": { target: gateway },
    },
  },
});
