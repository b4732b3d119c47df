"""smtpsh.net"""
