"""What marketers and operators ask of files and rows: check, preview, plan, explain, status."""
