"""Reports: findings by severity from smtpsh's JSON results, and recorded sessions drawn as
ladder diagrams, as one self-contained HTML page or Markdown. A library: no shell, no CLI."""
