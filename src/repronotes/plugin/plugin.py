"""MkDocs hooks. They orchestrate; the pipeline computes and render.py (Jinja templates) writes HTML.

on_startup        note whether this is `mkdocs serve` (execution defaults to off there)
on_config         resolve the settings; take the site folder's lock (two builds never share a site_dir)
on_files          mount posts (opt-in), find the markers, run/verify every embedded experiment (fail the
                  build on drift), publish executed notebooks as pages and the stylesheets
on_page_markdown  expand markers (values, tables, dashboard; embeds become slots)
on_post_page      fill the slots with rendered notebook outputs and panels; redact the page
on_post_build     write the drift report; release the lock (also on a build error and at shutdown)
"""

from __future__ import annotations

import hashlib
import logging
from importlib import resources
from pathlib import Path
from typing import Any

import filelock
from mkdocs.exceptions import PluginError
from mkdocs.plugins import BasePlugin, event_priority
from mkdocs.structure.files import File, Files
from mkdocs.utils import get_relative_url

from repronotes import markers, report
from repronotes.cache import ensure_folder
from repronotes.errors import MarkerError, ReproError, RunInterruptedError
from repronotes.model import Outcome, Record, Status
from repronotes.pipeline import Engine
from repronotes.plugin import render
from repronotes.plugin.config import RepronotesConfig
from repronotes.plugin.nbrender import NotebookRenderer
from repronotes.plugin.verifications import Verifications
from repronotes.progress import PlainProgress
from repronotes.project import Settings, settings_from
from repronotes.redact import Redactor, redactor_for
from repronotes.validate import relative

log = logging.getLogger("mkdocs.plugins.repronotes")
CSS_URI = "assets/repronotes/repronotes.css"
NOTEBOOK_CSS_URI = "assets/repronotes/notebook.css"
SITE_LOCK_WAIT_S = 1800.0


class RepronotesPlugin(BasePlugin[RepronotesConfig]):
    serving = False

    def on_startup(self, *, command: str, dirty: bool) -> None:
        self.serving = command == "serve"

    def on_config(self, config: Any) -> Any:
        if not self.config.enabled:
            return config
        self.root = Path(config.config_file_path).resolve().parent
        docs_dir = relative(Path(config.docs_dir), self.root)
        try:
            self.settings: Settings = settings_from(
                self.root, dict(self.config), docs_dir, serving=self.serving
            )
        except ReproError as exc:
            raise PluginError(f"repronotes: {exc}") from exc
        self.redactor: Redactor = redactor_for(self.root)
        self._lock_site(Path(config.site_dir))
        self.renderer = NotebookRenderer(self.settings.cache / "html")
        self.outcomes: dict[str, list[Outcome]] = {}
        self.slots: dict[str, str] = {}
        config.extra_css = [*config.extra_css, NOTEBOOK_CSS_URI, CSS_URI]
        return config

    def _lock_site(self, site_dir: Path) -> None:
        key = hashlib.sha256(str(site_dir.resolve()).encode()).hexdigest()[:16]
        self.site_lock = filelock.FileLock(
            str(ensure_folder(self.settings.cache, "locks") / f"site-{key}.lock")
        )
        try:
            self.site_lock.acquire(timeout=0)
        except filelock.Timeout:
            log.info("repronotes: another build is writing the same site folder; waiting for it")
            try:
                self.site_lock.acquire(timeout=SITE_LOCK_WAIT_S)
            except filelock.Timeout:
                raise PluginError(
                    "repronotes: another build still writes the same site folder; try again later"
                ) from None

    def _unlock_site(self) -> None:
        lock = getattr(self, "site_lock", None)
        if lock is not None and lock.is_locked:
            lock.release()

    def on_serve(self, server: Any, config: Any, builder: Any) -> Any:
        if self.config.enabled:
            for folder in (self._posts_folder(), self.root / self.settings.experiments_dir):
                if folder is not None and folder.is_dir():
                    server.watch(str(folder))
        return server

    # --- files: mount, verify, publish ---------------------------------------------------------

    @event_priority(50)  # before the blog plugin reads the posts this mounts
    def on_files(self, files: Files, config: Any) -> Files:
        if not self.config.enabled:
            return files
        self._mount_posts(files, config)
        embedded = self._embedded_experiments(files)
        try:
            self.engine = Engine(
                self.settings, log=log, progress=PlainProgress(lambda line: log.info("repronotes: %s", line))
            )
            self._verify(embedded)
        except RunInterruptedError as exc:
            raise SystemExit(exc.exit_code) from exc
        except ReproError as exc:
            raise PluginError(self.redactor.text(f"repronotes: {exc}")) from exc
        self._publish_notebooks(files, config)
        files.append(File.generated(config, CSS_URI, content=_asset("repronotes.css")))
        files.append(File.generated(config, NOTEBOOK_CSS_URI, content=self.renderer.css or ""))
        return files

    def _posts_folder(self) -> Path | None:
        return self.root / self.settings.posts_dir if self.settings.posts_dir else None

    def _mount_posts(self, files: Files, config: Any) -> None:
        folder = self._posts_folder()
        for path in sorted(folder.glob("*.md")) if folder is not None and folder.is_dir() else []:
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
            except MarkerError as exc:
                raise PluginError(f"repronotes: {exc}") from exc
            for marker in found:
                name = "*" if marker.kind == "reproducibility_dashboard" else str(marker.experiment)
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
            failures += [f"{pages}: {report.finding_line(f)}" for f in outcome.findings if outcome.failed]
        Verifications(self.settings.cache).remember([o for group in self.outcomes.values() for o in group])
        if failures:
            message = self.redactor.text(
                "repronotes: the published results do not reproduce:\n  - " + "\n  - ".join(failures)
            )
            if self.settings.on_failure == "fail":
                raise PluginError(message)
            log.warning(message)

    def _publish_notebooks(self, files: Files, config: Any) -> None:
        if not self.config.notebook_pages:
            return
        for name, outcomes in self.outcomes.items():
            exp = self.engine.experiments[name]
            for outcome in outcomes:
                record = self._record(name, outcome.profile)
                executed = exp.executed_path(outcome.profile)
                if record is None or not executed.is_file() or outcome.profile not in exp.profiles:
                    continue
                uri = f"{self.config.notebook_pages_dir}/{name}/{outcome.profile}.md"
                slot = self._slot(self.renderer.render(executed, "full"))
                content = render.notebook_page(
                    exp.title, outcome.profile, record.hardware_class, record.date[:10], slot
                )
                files.append(File.generated(config, uri, content=content))

    # --- pages -------------------------------------------------------------------------------

    def on_page_markdown(self, markdown: str, page: Any, config: Any, files: Files) -> str:
        if not self.config.enabled:
            return markdown
        where = self._page_label(page.file)
        try:
            return markers.substitute(markdown, where, lambda m: self._render_marker(m, page, files, where))
        except MarkerError as exc:
            raise PluginError(f"repronotes: {exc}") from exc

    def on_post_page(self, output: str, page: Any, config: Any) -> str:
        """Fill the slots last, so reading time and the search index see the prose, not notebook outputs."""
        if not self.config.enabled:
            return output
        for key, fragment in self.slots.items():
            output = output.replace(f'<div class="rn-slot" data-rn-slot="{key}"></div>', fragment)
        return self.redactor.text(output)

    def on_post_build(self, config: Any) -> None:
        if not self.config.enabled:
            return
        if self.outcomes:
            everything = [o for outcomes in self.outcomes.values() for o in outcomes]
            folder = report.write_reports(
                ensure_folder(self.settings.cache, "reports"), everything, self.redactor
            )
            log.info("repronotes: drift report written to %s", relative(folder, self.root))
        self._unlock_site()

    def on_build_error(self, *, error: Exception) -> None:
        self._unlock_site()

    def on_shutdown(self) -> None:
        self._unlock_site()

    def _render_marker(self, marker: markers.Marker, page: Any, files: Files, where: str) -> str:
        if marker.kind == "reproducibility_dashboard":
            return render.dashboard_html(self._dashboard_rows())
        record = self._chosen_record(marker, where)
        if marker.kind == "value":
            if marker.metric not in record.metrics:
                known = ", ".join(sorted(record.metrics))
                rule = f"no metric {marker.metric!r} in the {record.profile} record (it has: {known})"
                raise MarkerError(where, f"{{{{ value: {marker.experiment}.{marker.metric} }}}}", rule)
            return render.value_html(record, str(marker.metric), marker.fmt, marker.with_se, where)
        if marker.kind == "table":
            return render.metric_table_markdown(record, str(marker.metric), marker.fmt, marker.options, where)
        return self._embed(record, page, files)

    def _embed(self, record: Record, page: Any, files: Files) -> str:
        exp = self.engine.experiments[record.experiment]
        outcomes = self.outcomes[exp.name]
        shown = next(o for o in outcomes if o.profile == record.profile)
        links = {}
        for o in outcomes:
            target = files.get_file_from_path(f"{self.config.notebook_pages_dir}/{exp.name}/{o.profile}.md")
            if target is not None:
                links[o.profile] = get_relative_url(target.url, page.url)
        outputs = self.renderer.render(exp.executed_path(shown.profile), "outputs")
        return self._slot(
            render.embed_html(exp.name, outputs, render.panel_html(exp.title, outcomes, shown, record, links))
        )

    def _chosen_record(self, marker: markers.Marker, where: str) -> Record:
        name = str(marker.experiment)
        if name not in self.engine.experiments:
            known = ", ".join(sorted(self.engine.experiments)) or "none"
            raise MarkerError(where, f"experiment {name!r}", f"unknown (known: {known})")
        declared = self.engine.experiments[name].profiles
        if marker.profile and marker.profile not in declared:
            raise MarkerError(
                where, f"{name}@{marker.profile}", f"unknown profile (declared: {', '.join(declared)})"
            )
        order = [marker.profile] if marker.profile else [*self.config.display_profiles, *declared]
        for profile in (p for p in dict.fromkeys(order) if p in declared):
            record = self._record(name, profile)
            if record is not None:
                return record
        raise MarkerError(
            where, f"experiment {name!r}", f"has no usable record for profile(s) {', '.join(order)}"
        )

    def _record(self, name: str, profile: str) -> Record | None:
        return self.engine.record_state(self.engine.experiments[name], profile).record

    def _slot(self, fragment: str) -> str:
        key = str(len(self.slots))
        self.slots[key] = fragment
        return f'\n\n<div class="rn-slot" data-rn-slot="{key}"></div>\n\n'

    def _dashboard_rows(self) -> list[dict[str, Any]]:
        verified = Verifications(self.settings.cache).load()
        rows = []
        for name, outcomes in sorted(self.outcomes.items()):
            exp = self.engine.experiments[name]
            for o in outcomes:
                rows.append({
                    "experiment": name, "title": exp.title, "profile": o.profile, "status": o.status, "action": o.action,
                    "hardware": o.record_hardware or "–", "date": (o.record_date or "–")[:10],
                    "verified": verified.get(f"{name}/{o.profile}", "–") if o.status is not Status.NOT_RECORDED else "–",
                    "rerun": f"repronotes run {name} --profile {o.profile}",
                })  # fmt: skip
        return rows

    def _page_label(self, file: File) -> str:
        if file.abs_src_path:
            return relative(Path(file.abs_src_path), self.root)
        return str(file.src_uri)


def _asset(name: str) -> str:
    return resources.files("repronotes.plugin").joinpath("assets", name).read_text(encoding="utf-8")
