"""Typed settings, built once from the composed config: `run.Settings` (with `load_settings`), each config
group's own settings (`optim`, `logger`; data and model settings live with their packages) and `plan`.

Import the submodules themselves: `settings.logger` is light (the report reads it without torch), `run` and
`plan` load torch and Lightning."""
