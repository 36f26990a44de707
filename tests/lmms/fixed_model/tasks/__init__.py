"""Empty: lmms-eval adds a plugin's ``tasks`` folder to --include_path, and this plugin brings no task."""
