"""smtpsh.sandbox"""
