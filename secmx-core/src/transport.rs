//! The one owner of the rustls connection: plain text before STARTTLS, TLS after (RFC 3207).
