//! `--cache`: temporary credentials kept across runs, as aws-iam-authenticator's `--cache`
//! does, so a kubectl session does not pay an SSO, `credential_process` or AssumeRole round
//! trip for every token. Off by default.
//!
//! - Only credentials that expire are kept (long-lived keys are never written to disk), and
//!   one is reused only while it has [`MIN_LEFT`] to live; expired entries are dropped.
//! - Entries are keyed by profile and role: another profile or role never gets them.
//! - The file (`EKS_TOKEN_CACHE_FILE`, else `~/.kube/cache/eks-token/credentials.json`) is
//!   created 0600 in a 0700 directory and replaced atomically; a file others can read is
//!   not trusted (ignored, then rewritten 0600).
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use serde::{Deserialize, Serialize};

use crate::token::rfc3339_utc;

/// Reuse cached credentials only while they live this much longer: the provider would fetch
/// new ones inside this margin anyway.
pub const MIN_LEFT: Duration = Duration::from_secs(5 * 60);

/// Whose credentials an entry holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Key {
    /// The profile they came from (`--profile`, else `AWS_PROFILE`, else `default`).
    pub profile: String,
    /// The role assumed with them, if any.
    pub role_arn: Option<String>,
}

#[derive(Default, Deserialize, Serialize)]
pub struct CacheFile {
    #[serde(default)]
    credentials: Vec<Entry>,
}

#[derive(Clone, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
struct Entry {
    profile: String,
    role_arn: Option<String>,
    access_key_id: String,
    secret_access_key: String,
    session_token: Option<String>,
    expiration: String,
}

impl Entry {
    fn expires(&self) -> Option<SystemTime> {
        let t: jiff::Timestamp = self.expiration.parse().ok()?;
        Some(SystemTime::from(t))
    }

    fn is_for(&self, key: &Key) -> bool {
        self.profile == key.profile && self.role_arn == key.role_arn
    }
}

impl CacheFile {
    /// The credentials cached for `key`, if they live at least [`MIN_LEFT`] after `now`.
    pub fn lookup(&self, key: &Key, now: SystemTime) -> Option<Credentials> {
        let e = self.credentials.iter().find(|e| e.is_for(key))?;
        let expires = e.expires().filter(|t| *t >= now + MIN_LEFT)?;
        Some(Credentials::new(
            &e.access_key_id,
            &e.secret_access_key,
            e.session_token.clone(),
            Some(expires),
            "eks-token cache",
        ))
    }

    /// Keeps `credentials` for `key` if they expire (long-lived keys are not written), and
    /// drops every expired entry. Returns whether the file changed.
    pub fn store(&mut self, key: &Key, credentials: &Credentials, now: SystemTime) -> bool {
        let before = self.credentials.len();
        self.credentials
            .retain(|e| !e.is_for(key) && e.expires().is_some_and(|t| t > now));
        let Some(expiry) = credentials.expiry() else {
            return self.credentials.len() != before;
        };
        self.credentials.push(Entry {
            profile: key.profile.clone(),
            role_arn: key.role_arn.clone(),
            access_key_id: credentials.access_key_id().to_owned(),
            secret_access_key: credentials.secret_access_key().to_owned(),
            session_token: credentials.session_token().map(str::to_owned),
            expiration: rfc3339_utc(expiry),
        });
        true
    }
}

/// Where the cache lives: `EKS_TOKEN_CACHE_FILE`, else under `~/.kube/cache/`.
pub fn path(env: impl Fn(&str) -> Option<String>) -> Result<PathBuf, String> {
    if let Some(p) = env("EKS_TOKEN_CACHE_FILE").filter(|p| !p.is_empty()) {
        return Ok(PathBuf::from(p));
    }
    let home = env("HOME")
        .filter(|h| !h.is_empty())
        .ok_or("--cache: HOME is not set; set EKS_TOKEN_CACHE_FILE to the cache's path")?;
    Ok(Path::new(&home).join(".kube/cache/eks-token/credentials.json"))
}

/// The cache at `path`: empty when absent, unreadable, not ours to trust (readable by
/// others) or not a cache file; each but the first says why on stderr, never its contents.
pub fn load(path: &Path) -> CacheFile {
    let Ok(meta) = std::fs::metadata(path) else {
        return CacheFile::default();
    };
    if meta.permissions().mode() & 0o077 != 0 {
        eprintln!(
            "eks-token: ignoring the credential cache {}: readable by others (mode {:o}); it is rewritten 0600",
            path.display(),
            meta.permissions().mode() & 0o777
        );
        return CacheFile::default();
    }
    match std::fs::read(path).map(|b| serde_json::from_slice(&b)) {
        Ok(Ok(file)) => file,
        _ => {
            eprintln!(
                "eks-token: ignoring the credential cache {}: not a cache file",
                path.display()
            );
            CacheFile::default()
        }
    }
}

/// Replaces the cache at `path` atomically: a 0600 file in a 0700 directory, renamed over.
pub fn save(path: &Path, file: &CacheFile) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    let tmp = dir.join(format!(".credentials.{}.tmp", std::process::id()));
    let mut out = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)?;
    let written = serde_json::to_vec(file)
        .map_err(std::io::Error::other)
        .and_then(|bytes| out.write_all(&bytes))
        .and_then(|()| out.sync_all())
        .and_then(|()| std::fs::rename(&tmp, path));
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: Duration = Duration::from_secs(1_780_000_000);

    fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + T0 + Duration::from_secs(secs)
    }

    fn key(profile: &str, role: Option<&str>) -> Key {
        Key {
            profile: profile.into(),
            role_arn: role.map(Into::into),
        }
    }

    fn creds(id: &str, expires: Option<SystemTime>) -> Credentials {
        Credentials::new(id, "secret", Some("session".into()), expires, "test")
    }

    #[test]
    fn reuses_only_the_same_profile_and_role_while_they_live() {
        let mut file = CacheFile::default();
        let dev_role = key("dev", Some("arn:aws:iam::1:role/r"));
        assert!(file.store(&dev_role, &creds("ASIA1", Some(at(3600))), at(0)));
        // (key asked, at, which access key is reused)
        let cases = [
            (dev_role.clone(), 0, Some("ASIA1")),
            (dev_role.clone(), 3600 - 301, Some("ASIA1")),
            (dev_role.clone(), 3600 - 300, Some("ASIA1")),
            // Inside the margin, or past expiry: fetched again.
            (dev_role.clone(), 3600 - 299, None),
            (dev_role.clone(), 4000, None),
            // Another profile, no role, another role: never.
            (key("prod", Some("arn:aws:iam::1:role/r")), 0, None),
            (key("dev", None), 0, None),
            (key("dev", Some("arn:aws:iam::1:role/other")), 0, None),
        ];
        for (k, t, want) in cases {
            let got = file.lookup(&k, at(t));
            assert_eq!(
                got.as_ref().map(|c| c.access_key_id()),
                want,
                "{k:?} at +{t}s"
            );
            if let Some(c) = got {
                assert_eq!(c.secret_access_key(), "secret");
                assert_eq!(c.session_token(), Some("session"));
                assert_eq!(c.expiry(), Some(at(3600)));
            }
        }
    }

    #[test]
    fn never_keeps_long_lived_keys_and_drops_expired_entries() {
        let mut file = CacheFile::default();
        assert!(!file.store(&key("default", None), &creds("AKIA", None), at(0)));
        assert!(file.credentials.is_empty());
        file.store(&key("a", None), &creds("ASIA-A", Some(at(100))), at(0));
        file.store(&key("b", None), &creds("ASIA-B", Some(at(1000))), at(0));
        // Replacing b at +200 s drops a (expired) and b's old entry.
        file.store(&key("b", None), &creds("ASIA-B2", Some(at(5000))), at(200));
        let ids: Vec<_> = file
            .credentials
            .iter()
            .map(|e| e.access_key_id.as_str())
            .collect();
        assert_eq!(ids, ["ASIA-B2"]);
    }

    #[test]
    fn the_file_is_0600_in_a_0700_directory_and_a_readable_one_is_not_trusted() {
        let dir = std::env::temp_dir().join(format!("eks-token-cache-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let path = dir.join("sub/credentials.json");
        let mut file = CacheFile::default();
        file.store(&key("dev", None), &creds("ASIA1", Some(at(3600))), at(0));
        save(&path, &file).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(path.parent().unwrap()), 0o700);
        assert!(load(&path).lookup(&key("dev", None), at(0)).is_some());
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(load(&path).lookup(&key("dev", None), at(0)).is_none());
        std::fs::write(&path, b"not json").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert!(load(&path).credentials.is_empty());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_path_is_the_override_else_under_home() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.to_string())
            }
        };
        assert_eq!(
            path(env(&[
                ("EKS_TOKEN_CACHE_FILE", "/x/c.json"),
                ("HOME", "/h")
            ]))
            .unwrap(),
            PathBuf::from("/x/c.json")
        );
        assert_eq!(
            path(env(&[("HOME", "/h")])).unwrap(),
            PathBuf::from("/h/.kube/cache/eks-token/credentials.json")
        );
        assert!(path(env(&[])).unwrap_err().contains("EKS_TOKEN_CACHE_FILE"));
    }
}
