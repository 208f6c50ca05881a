//! The connector's credentials: a secret (from the config or its `secret_file`), or, for a
//! connector not enrolled yet, an enrollment token that the first accepted hello trades for
//! a secret. That secret is written to `secret_file` before any tunnel is used, so a
//! restart authenticates with it instead of enrolling again.
//!
//! One enrollment per process: a slot that finds no secret takes the enrollment lock and
//! enrolls; the other slots wait for the lock, then dial with the secret it produced. A
//! failed attempt (gateway unreachable, refusal) releases the lock, and the next slot to
//! take it tries in turn. A secret the gateway sent that could not be stored is kept under
//! the lock and stored again before the next dial: no tunnel runs on an unsaved secret.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::config::connector::ConnectorConfig;

use super::ConnectorError;

/// What the dial loops authenticate with.
pub(super) struct Credentials {
    /// The secret, once there is one (from the start, or after an enrollment).
    secret: Mutex<Option<Arc<str>>>,
    /// Set while the connector has no stored secret and holds an enrollment token.
    enrollment: Option<Enrollment>,
}

struct Enrollment {
    token: String,
    file: PathBuf,
    /// Held by the slot that is enrolling; holds a secret received but not stored yet.
    lock: tokio::sync::Mutex<Option<String>>,
}

/// How one dial authenticates.
pub(super) enum Auth<'a> {
    /// With this secret.
    Secret(Arc<str>),
    /// With the enrollment token; the other slots wait until this dial's outcome is known.
    Enroll(EnrollGuard<'a>),
}

/// The enrollment lock, held for the duration of one enrolling dial.
pub(super) struct EnrollGuard<'a> {
    credentials: &'a Credentials,
    enrollment: &'a Enrollment,
    unsaved: tokio::sync::MutexGuard<'a, Option<String>>,
}

impl Credentials {
    /// Reads the credentials the config names. With `enrollment_token`, a missing or empty
    /// `secret_file` means "enroll"; the file's folder must then be writable, checked now
    /// so that the gateway never registers a connector whose secret cannot be kept.
    pub(super) async fn load(cfg: &ConnectorConfig) -> Result<Credentials, ConnectorError> {
        let Some(path) = &cfg.secret_file else {
            return Ok(Credentials::with_secret(
                cfg.secret.clone().unwrap_or_default(),
            ));
        };
        let stored = match tokio::fs::read_to_string(path).await {
            Ok(text) => Some(text.trim().to_owned()).filter(|s| !s.is_empty()),
            Err(e) if e.kind() == io::ErrorKind::NotFound && cfg.enrollment_token.is_some() => None,
            Err(source) => {
                return Err(ConnectorError::Secret {
                    path: path.clone(),
                    source,
                })
            }
        };
        match (stored, &cfg.enrollment_token) {
            (Some(secret), token) => {
                if token.is_some() {
                    tracing::info!(
                        connector = %cfg.id, secret_file = %path.display(),
                        "already enrolled: using the stored secret (enrollment_token is unused)"
                    );
                }
                Ok(Credentials::with_secret(secret))
            }
            (None, Some(token)) => {
                let file = path.clone();
                let probed = tokio::task::spawn_blocking(move || probe(&file))
                    .await
                    .unwrap_or_else(|e| Err(io::Error::other(e)));
                probed.map_err(|source| ConnectorError::SecretWrite {
                    path: path.clone(),
                    source,
                })?;
                tracing::info!(
                    connector = %cfg.id, secret_file = %path.display(),
                    "no stored secret: the connector will enroll"
                );
                Ok(Credentials {
                    secret: Mutex::new(None),
                    enrollment: Some(Enrollment {
                        token: token.clone(),
                        file: path.clone(),
                        lock: tokio::sync::Mutex::new(None),
                    }),
                })
            }
            (None, None) => {
                let error = format!("secret_file: \"{}\" is empty", path.display());
                Err(ConnectorError::Config(vec![error]))
            }
        }
    }

    fn with_secret(secret: String) -> Credentials {
        Credentials {
            secret: Mutex::new(Some(secret.into())),
            enrollment: None,
        }
    }

    /// The secret, if there is one yet.
    pub(super) fn secret(&self) -> Option<Arc<str>> {
        self.secret
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// True while the connector has no secret yet.
    pub(super) fn enrolling(&self) -> bool {
        self.secret().is_none()
    }

    /// What the next dial authenticates with; waits while another slot enrolls. Fails when a
    /// secret received earlier still cannot be stored.
    pub(super) async fn for_dial(&self) -> io::Result<Auth<'_>> {
        if let Some(secret) = self.secret() {
            return Ok(Auth::Secret(secret));
        }
        let Some(enrollment) = &self.enrollment else {
            // Unreachable: without an enrollment the secret is set from the start.
            return Ok(Auth::Secret(Arc::from("")));
        };
        let mut unsaved = enrollment.lock.lock().await;
        if let Some(secret) = self.secret() {
            return Ok(Auth::Secret(secret));
        }
        if let Some(secret) = unsaved.clone() {
            let secret = self.store(enrollment, secret).await?;
            *unsaved = None;
            return Ok(Auth::Secret(secret));
        }
        Ok(Auth::Enroll(EnrollGuard {
            credentials: self,
            enrollment,
            unsaved,
        }))
    }

    /// Writes `secret` to the secret file, then makes it the connector's secret.
    async fn store(&self, enrollment: &Enrollment, secret: String) -> io::Result<Arc<str>> {
        let (file, text) = (enrollment.file.clone(), secret.clone());
        tokio::task::spawn_blocking(move || write_secret_file(&file, &text))
            .await
            .unwrap_or_else(|e| Err(io::Error::other(e)))?;
        let secret: Arc<str> = secret.into();
        *self
            .secret
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(Arc::clone(&secret));
        Ok(secret)
    }
}

impl EnrollGuard<'_> {
    /// The token to send in the hello.
    pub(super) fn token(&self) -> &str {
        &self.enrollment.token
    }

    /// The file the secret goes to.
    pub(super) fn file(&self) -> &Path {
        &self.enrollment.file
    }

    /// The gateway accepted the enrollment and sent `secret`: stores it (the tunnel must
    /// not be used before that succeeded). On failure the secret is kept in memory and
    /// stored again before the next dial.
    pub(super) async fn enrolled(mut self, secret: String) -> io::Result<()> {
        *self.unsaved = Some(secret.clone());
        self.credentials.store(self.enrollment, secret).await?;
        *self.unsaved = None;
        Ok(())
    }
}

/// Writes the secret atomically with mode 0600: a temporary file beside it (fsynced), a
/// rename, an fsync of the folder. A crash leaves no file or the whole secret.
fn write_secret_file(path: &Path, secret: &str) -> io::Result<()> {
    let tmp = temp_path(path)?;
    let write = || -> io::Result<()> {
        let mut file = create_private(&tmp)?;
        file.write_all(format!("{secret}\n").as_bytes())?;
        file.sync_all()?;
        fs::rename(&tmp, path)?;
        File::open(folder(path))?.sync_all()
    };
    write().inspect_err(|_| {
        let _ = fs::remove_file(&tmp);
    })
}

/// Checks that the secret file can be written later: creates and removes its temporary
/// file.
fn probe(path: &Path) -> io::Result<()> {
    let tmp = temp_path(path)?;
    drop(create_private(&tmp)?);
    fs::remove_file(&tmp)
}

/// A new file readable by its owner only (a leftover of a crashed write is replaced).
fn create_private(path: &Path) -> io::Result<File> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)
}

fn temp_path(path: &Path) -> io::Result<PathBuf> {
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "secret_file names no file"))?;
    let name = format!(".{}.{}.tmp", name.to_string_lossy(), std::process::id());
    Ok(folder(path).join(name))
}

fn folder(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(tag: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("switchyard-enroll-{}-{tag}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("temp dir");
        dir
    }

    fn config(file: &Path, token: Option<&str>) -> ConnectorConfig {
        let mut cfg = ConnectorConfig::new("e", vec!["127.0.0.1".into()]);
        cfg.secret_file = Some(file.to_path_buf());
        cfg.enrollment_token = token.map(str::to_owned);
        cfg
    }

    #[test]
    fn secret_file_is_written_whole_and_private() {
        let dir = temp_dir("write");
        let file = dir.join("east.secret");
        probe(&file).expect("writable");
        write_secret_file(&file, "s1").expect("write");
        write_secret_file(&file, "s2").expect("overwrite");
        assert_eq!(fs::read_to_string(&file).expect("read"), "s2\n");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&file).expect("meta").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let names: Vec<_> = fs::read_dir(&dir)
            .expect("dir")
            .filter_map(|e| e.ok())
            .map(|e| e.file_name())
            .collect();
        assert_eq!(names, ["east.secret"], "no temporary file is left");
        assert!(probe(&dir.join("missing").join("x.secret")).is_err());
        let _ = fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn a_stored_secret_wins_over_the_token() {
        let dir = temp_dir("load");
        let file = dir.join("c.secret");
        // No file yet: enroll; the file is not created by the start-up check.
        let creds = with_token(&file).await;
        assert!(creds.enrolling());
        assert!(!file.exists());
        // An empty file also means "not enrolled yet".
        fs::write(&file, "\n").expect("write");
        let creds = with_token(&file).await;
        assert!(creds.enrolling());
        // Without a token an empty or missing file is an error.
        assert!(matches!(
            Credentials::load(&config(&file, None)).await,
            Err(ConnectorError::Config(_))
        ));
        fs::write(&file, " stored \n").expect("write");
        let creds = with_token(&file).await;
        assert_eq!(creds.secret().as_deref(), Some("stored"));
        fs::remove_file(&file).expect("remove");
        assert!(matches!(
            Credentials::load(&config(&file, None)).await,
            Err(ConnectorError::Secret { .. })
        ));
        // A folder that does not exist is reported before any enrollment.
        let nowhere = dir.join("missing").join("c.secret");
        assert!(matches!(
            Credentials::load(&config(&nowhere, Some("tok"))).await,
            Err(ConnectorError::SecretWrite { .. })
        ));
        let _ = fs::remove_dir_all(&dir);
    }

    /// Credentials that enroll with the token "tok" and store the secret in `file`.
    async fn with_token(file: &Path) -> Credentials {
        Credentials::load(&config(file, Some("tok")))
            .await
            .expect("load")
    }

    /// The enrollment turn of the next dial (which must enroll).
    async fn enroll_turn(creds: &Credentials) -> EnrollGuard<'_> {
        let Auth::Enroll(guard) = creds.for_dial().await.expect("auth") else {
            panic!("expected to enroll");
        };
        guard
    }

    #[tokio::test]
    async fn one_slot_enrolls_the_others_wait_for_its_secret() {
        let dir = temp_dir("once");
        let file = dir.join("c.secret");
        let creds = with_token(&file).await;
        let guard = enroll_turn(&creds).await;
        assert_eq!(guard.token(), "tok");
        // A second slot waits while the first one enrolls...
        let waiting = creds.for_dial();
        tokio::pin!(waiting);
        assert!(futures_util::poll!(waiting.as_mut()).is_pending());
        guard.enrolled("new-secret".into()).await.expect("stored");
        // ...and then dials with the secret, which is on disk already.
        match waiting.await.expect("auth") {
            Auth::Secret(s) => assert_eq!(&*s, "new-secret"),
            Auth::Enroll(_) => panic!("enrolled twice"),
        }
        assert_eq!(fs::read_to_string(&file).expect("read"), "new-secret\n");
        assert!(!creds.enrolling());
        let _ = fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn a_failed_attempt_lets_the_next_slot_enroll() {
        let dir = temp_dir("retry");
        let creds = with_token(&dir.join("c.secret")).await;
        let first = enroll_turn(&creds).await;
        drop(first);
        assert!(matches!(
            creds.for_dial().await.expect("auth"),
            Auth::Enroll(_)
        ));
        let _ = fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn an_unsaved_secret_is_stored_before_the_next_dial() {
        let dir = temp_dir("unsaved");
        let file = dir.join("c.secret");
        let creds = with_token(&file).await;
        let guard = enroll_turn(&creds).await;
        // The folder vanishes between the start-up check and the enrollment.
        fs::remove_dir_all(&dir).expect("remove");
        guard
            .enrolled("kept".into())
            .await
            .expect_err("cannot store");
        assert!(creds.enrolling(), "an unsaved secret is not used");
        assert!(creds.for_dial().await.is_err());
        fs::create_dir_all(&dir).expect("recreate");
        match creds.for_dial().await.expect("auth") {
            Auth::Secret(s) => assert_eq!(&*s, "kept"),
            Auth::Enroll(_) => panic!("enrolled twice"),
        }
        assert_eq!(fs::read_to_string(&file).expect("read"), "kept\n");
        let _ = fs::remove_dir_all(&dir);
    }
}
