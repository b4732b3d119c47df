"""smtpsh.transcript"""
