"""What is kept on disk or in a database: key files (keyfiles, devkeys, sealkey), the data-key
store (datakeys), the auditor store on SQLite or PostgreSQL (auditor), the audit files (witness,
dumps: auditfiles) and the web page's access log (accesslog)."""
