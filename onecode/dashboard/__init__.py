"""The planner dashboard: a static page (HTML, JS, CSS and a vendored ECharts) served
by the app at ``/planner/``; it reads the planner API with the planner's own token."""
