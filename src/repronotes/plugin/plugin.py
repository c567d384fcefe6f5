"""MkDocs hooks. They orchestrate; the pipeline computes and render*.py writes HTML.

on_config   resolve the project root, the execute mode, the stylesheet
on_files    mount posts/, find the markers, run/verify every embedded experiment (fail the
            build on drift), publish executed notebooks as pages and the stylesheets
on_page_markdown   expand markers (values, tables, dashboard; embeds become slots)
on_post_page       fill the slots with rendered notebook outputs and the panel (after readtime/search)
on_post_build      write the drift report (.cache/repronotes/reports/)
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from importlib import resources
from pathlib import Path
from typing import Any

from mkdocs.exceptions import PluginError
from mkdocs.plugins import BasePlugin
from mkdocs.structure.files import File, Files
from mkdocs.utils import get_relative_url

from repronotes import environ, markers, report
from repronotes.cache import cache_root
from repronotes.errors import RecordError, ReproError
from repronotes.pipeline import Engine, Outcome
from repronotes.plugin import render
from repronotes.plugin.config import RepronotesConfig
from repronotes.plugin.notebooks import NotebookRenderer
from repronotes.record import load_record
from repronotes.spec import relative

log = logging.getLogger("mkdocs.plugins.repronotes")
CSS_URI = "assets/repronotes/repronotes.css"
NOTEBOOK_CSS_URI = "assets/repronotes/notebook.css"


class RepronotesPlugin(BasePlugin[RepronotesConfig]):
    def on_config(self, config: Any) -> Any:
        if not self.config.enabled:
            return config
        self.root = Path(config.config_file_path).resolve().parent
        self.mode = environ.execute_override() or self.config.execute
        self.renderer = NotebookRenderer(cache_root(self.root) / "html")
        self.outcomes: dict[str, list[Outcome]] = {}
        self.records: dict[tuple[str, str], dict[str, Any]] = {}
        self.slots: dict[str, str] = {}
        config.extra_css = [*config.extra_css, NOTEBOOK_CSS_URI, CSS_URI]
        return config

    def on_serve(self, server: Any, config: Any, builder: Any) -> Any:
        for folder in (self.root / self.config.posts_dir, self.root / "experiments"):
            if folder.is_dir():
                server.watch(str(folder))
        return server

    # --- files: mount, verify, publish ---------------------------------------------------------

    def on_files(self, files: Files, config: Any) -> Files:
        if not self.config.enabled:
            return files
        self._mount_posts(files, config)
        embedded = self._embedded_experiments(files)
        try:
            self.engine = Engine(self.root, mode=self.mode, progress=_log_progress)
            self._verify(embedded)
        except ReproError as exc:
            raise PluginError(f"repronotes: {exc}") from exc
        self._publish_notebooks(files, config)
        files.append(File.generated(config, CSS_URI, content=_asset("repronotes.css")))
        files.append(File.generated(config, NOTEBOOK_CSS_URI, content=self.renderer.css or ""))
        return files

    def _mount_posts(self, files: Files, config: Any) -> None:
        folder = self.root / self.config.posts_dir
        for path in sorted(folder.glob("*.md")) if folder.is_dir() else []:
            uri = f"{self.config.posts_url_dir}/{path.name}"
            if files.get_file_from_path(uri) is None:
                files.append(File.generated(config, uri, abs_src_path=str(path)))

    def _embedded_experiments(self, files: Files) -> dict[str, list[str]]:
        """experiment -> the pages that embed it ('*' for the dashboard: every experiment)."""
        embedded: dict[str, list[str]] = {}
        for file in files.documentation_pages():
            where = self._page_label(file)
            text = (
                Path(file.abs_src_path).read_text(encoding="utf-8")
                if file.abs_src_path
                else file.content_string
            )
            try:
                found = markers.find(text, where)
            except ReproError as exc:
                raise PluginError(f"repronotes: {exc}") from exc
            for marker in found:
                names = ["*"] if marker.kind == "reproducibility_dashboard" else [marker.experiment]
                for name in names:
                    embedded.setdefault(name, []).append(where)
        return embedded

    def _verify(self, embedded: dict[str, list[str]]) -> None:
        wanted = [n for n in embedded if n != "*"]
        if "*" in embedded:
            wanted += [n for n in self.engine.experiments if n not in wanted]
        for name in wanted:
            if name not in self.engine.experiments:
                pages = ", ".join(embedded.get(name, []))
                known = ", ".join(sorted(self.engine.experiments)) or "none"
                raise PluginError(f"repronotes: {pages} embeds unknown experiment {name!r} (known: {known})")
        failures = []
        for exp, profile in self.engine.plan(wanted):
            outcome = self.engine.check(exp, profile)
            self.outcomes.setdefault(exp.name, []).append(outcome)
            pages = ", ".join(dict.fromkeys(embedded.get(exp.name, []) or embedded.get("*", [])))
            failures += [f"{pages}: {line}" for line in outcome.findings if outcome.failed]
        self._remember_verifications()
        if failures:
            message = "repronotes: the published results do not reproduce:\n  - " + "\n  - ".join(failures)
            if not self.config.allow_errors:
                raise PluginError(message)
            log.warning(message)

    def _publish_notebooks(self, files: Files, config: Any) -> None:
        for name, outcomes in self.outcomes.items():
            exp = self.engine.experiments[name]
            for outcome in outcomes:
                record = self.record(name, outcome.profile)
                executed = exp.executed_path(outcome.profile)
                if record is None or not executed.is_file() or not self.config.notebook_pages:
                    continue
                uri = f"{self.config.notebook_pages_dir}/{name}/{outcome.profile}.md"
                slot = self._slot(self.renderer.render(executed, "full"))
                content = (
                    f"---\ntitle: {json.dumps(exp.title + f' ({outcome.profile} notebook)')}\n---\n\n# {exp.title}\n\n"
                    f"The executed notebook behind the `{outcome.profile}` record "
                    f"({record['environment'].get('hardware_class')}, {record['run']['date'][:10]}).\n\n{slot}\n"
                )
                files.append(File.generated(config, uri, content=content))

    # --- pages -------------------------------------------------------------------------------

    def on_page_markdown(self, markdown: str, page: Any, config: Any, files: Files) -> str:
        if not self.config.enabled:
            return markdown
        where = self._page_label(page.file)
        try:
            return markers.substitute(markdown, where, lambda m: self._render_marker(m, page, files, where))
        except (ReproError, KeyError) as exc:
            raise PluginError(f"repronotes: {where}: {exc}") from exc

    def on_post_page(self, output: str, page: Any, config: Any) -> str:
        """Fill the slots last, so reading time and the search index see the prose, not notebook outputs."""
        for key, fragment in self.slots.items():
            output = output.replace(f'<div class="rn-slot" data-rn-slot="{key}"></div>', fragment)
        return output

    def on_post_build(self, config: Any) -> None:
        if self.config.enabled and self.outcomes:
            everything = [o for outcomes in self.outcomes.values() for o in outcomes]
            folder = report.write_reports(self.root, everything)
            log.info("repronotes: drift report written to %s", relative(folder, self.root))

    def _render_marker(self, marker: markers.Marker, page: Any, files: Files, where: str) -> str:
        if marker.kind == "reproducibility_dashboard":
            return render.dashboard_markdown(self._dashboard_rows())
        record = self._chosen_record(marker, where)
        if marker.kind == "value":
            if marker.metric not in record["metrics"]:
                raise KeyError(
                    f"{marker.experiment} has no metric {marker.metric!r} in its {record['run']['profile']} record"
                )
            return render.value_html(record, marker.metric, marker.fmt, marker.with_se, where)
        if marker.kind == "table":
            return render.metric_table_markdown(record, marker.metric, marker.fmt, marker.options)
        return self._embed(marker, record, page, files)

    def _embed(self, marker: markers.Marker, record: dict[str, Any], page: Any, files: Files) -> str:
        exp = self.engine.experiments[marker.experiment]
        outcomes = self.outcomes[exp.name]
        shown = next(o for o in outcomes if o.profile == record["run"]["profile"])
        links = {}
        for o in outcomes:
            target = files.get_file_from_path(f"{self.config.notebook_pages_dir}/{exp.name}/{o.profile}.md")
            if target is not None:
                links[o.profile] = get_relative_url(target.url, page.url)
        outputs = self.renderer.render(exp.executed_path(shown.profile), "outputs")
        figure = f'<div class="rn-embed" data-experiment="{exp.name}">{outputs}</div>'
        return self._slot(figure + render.panel_html(exp.title, outcomes, shown, record, links))

    def _chosen_record(self, marker: markers.Marker, where: str) -> dict[str, Any]:
        name = marker.experiment
        if name not in self.engine.experiments:
            raise KeyError(f"unknown experiment {name!r}")
        order = (
            [marker.profile]
            if marker.profile
            else [*self.config.display_profiles, *self.engine.experiments[name].profiles]
        )
        for profile in order:
            record = self.record(name, profile)
            if record is not None:
                return record
        raise KeyError(f"{name} has no record for profile(s) {order}")

    def record(self, name: str, profile: str) -> dict[str, Any] | None:
        key = (name, profile)
        if key not in self.records:
            exp = self.engine.experiments[name]
            path = exp.record_path(profile)
            try:
                self.records[key] = load_record(path, relative(path, self.root)) if path.is_file() else None
            except RecordError:
                self.records[key] = None
        return self.records[key]

    def _slot(self, fragment: str) -> str:
        key = str(len(self.slots))
        self.slots[key] = fragment
        return f'\n\n<div class="rn-slot" data-rn-slot="{key}"></div>\n\n'

    def _dashboard_rows(self) -> list[dict[str, Any]]:
        verified = self._load_verifications()
        rows = []
        for name, outcomes in sorted(self.outcomes.items()):
            exp = self.engine.experiments[name]
            for o in outcomes:
                last = verified.get(f"{name}/{o.profile}", "–")
                rows.append({
                    "experiment": name, "title": exp.title, "profile": o.profile, "status": o.status, "action": o.action,
                    "hardware": o.record_hardware or "–", "date": (o.record_date or "–")[:10],
                    "verified": last, "rerun": o.rerun,
                })  # fmt: skip
        return rows

    def _verifications_file(self) -> Path:
        return cache_root(self.root) / "verifications.json"

    def _load_verifications(self) -> dict[str, str]:
        path = self._verifications_file()
        try:
            return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
        except ValueError:
            return {}

    def _remember_verifications(self) -> None:
        from repronotes.record import write_json_atomic

        seen = self._load_verifications()
        today = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
        for outcomes in self.outcomes.values():
            for o in outcomes:
                if o.status in ("reproduced", "verified"):
                    seen[f"{o.experiment}/{o.profile}"] = f"{today} ({o.action})"
        write_json_atomic(self._verifications_file(), seen)

    def _page_label(self, file: File) -> str:
        if file.abs_src_path:
            return relative(Path(file.abs_src_path), self.root)
        return file.src_uri


def _log_progress(event: dict[str, Any]) -> None:
    log.info("repronotes: %s", report.progress_line(event))


def _asset(name: str) -> str:
    return resources.files("repronotes.plugin").joinpath("assets", name).read_text(encoding="utf-8")
