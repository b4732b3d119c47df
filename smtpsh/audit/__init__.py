"""smtpsh.audit"""
