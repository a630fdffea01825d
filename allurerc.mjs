// Allure 3 configuration for `npx allure generate reports/allure-results -o reports/allure-report`
// (the gate suite's results, written by allure-pytest-bdd under `cqt gate`): one self-contained HTML file.
import { defineConfig } from "allure";

export default defineConfig({
  name: "cqt acceptance gates (ALT-5 / ALT-6)",
  output: "./reports/allure-report",
  plugins: {
    awesome: {
      options: {
        reportName: "cqt acceptance gates (ALT-5 / ALT-6)",
        singleFile: true,
        groupBy: ["feature"],
      },
    },
  },
});
