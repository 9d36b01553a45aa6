//! Argon2id password hashing, kept off the async workers and in bounded
//! memory.
//!
//! Each hash takes tens of milliseconds of CPU and a 19 MiB working area.
//! Allocated per hash, those areas stayed in glibc's heaps after use: a
//! burst of logins grew the process to ~600 MB for good. Now:
//! - hashing runs on threads of its own, one per core, so a burst queues
//!   here; they run at a lower scheduling priority (nice 10), so under a
//!   login flood the cores still answer other requests first;
//! - each run borrows one of at most that many working areas, reused
//!   from run to run;
//! - when the last running hash ends, all areas but one are freed, and
//!   they are allocated so that freeing returns them to the system (see
//!   [`new_area`]). So memory is `cores × 19 MiB` during a burst and
//!   19 MiB after it.
//!
//! Logins for unknown users verify against a dummy hash, so both cases
//! cost one Argon2 run and take the same time.

use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex, PoisonError, mpsc};
use std::time::Instant;

use argon2::password_hash::phc::{Output, ParamsString, PasswordHash, Salt};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::Semaphore;

use super::error::{Error, Result};

use crate::metric_names as names;

/// Argon2id with OWASP's parameters: m = 19456 KiB, t = 2, p = 1.
fn params() -> Params {
    Params::DEFAULT
}

/// Bytes of hash output, as the `argon2` crate's own hasher writes.
const OUTPUT_LEN: usize = Params::DEFAULT_OUTPUT_LEN;

/// Work for a hashing thread.
type Job = Box<dyn FnOnce() + Send>;

/// The niceness of the hashing threads: CPU time goes to request handling
/// first when both want it.
#[cfg(target_os = "linux")]
const HASHING_NICE: i32 = 10;

#[derive(Clone)]
pub struct Passwords {
    cores: usize,
    /// One per hashing thread: a job is queued only with a permit.
    permits: Arc<Semaphore>,
    jobs: mpsc::Sender<Job>,
    /// Working areas not in use; never more than there are permits.
    areas: Arc<Mutex<Vec<Vec<Block>>>>,
    dummy_hash: Arc<str>,
}

impl Passwords {
    pub fn new() -> Result<Self> {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        // Random salt and output in the real parameters: verifying against
        // it costs a full Argon2 run and never succeeds.
        let dummy = phc_string(
            &argon2::password_hash::generate_salt(),
            &argon2::password_hash::generate_salt().repeat(2),
        )?;
        Ok(Self {
            cores,
            permits: Arc::new(Semaphore::new(cores)),
            jobs: start_hashing_threads(cores)?,
            areas: Arc::new(Mutex::new(Vec::with_capacity(cores))),
            dummy_hash: Arc::from(dummy),
        })
    }

    /// Hashes a password into a PHC string.
    pub async fn hash(&self, password: SecretString) -> Result<String> {
        self.run(move |area| {
            let salt = argon2::password_hash::generate_salt();
            let mut output = [0u8; OUTPUT_LEN];
            let params = params();
            let blocks = area_of(area, &params);
            Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
                .hash_password_into_with_memory(
                    password.expose_secret().as_bytes(),
                    &salt,
                    &mut output,
                    blocks,
                )
                .map_err(Error::internal)?;
            phc_string(&salt, &output)
        })
        .await
    }

    /// Checks a password against a stored hash, or against the dummy hash
    /// when there is none, so the answer takes as long either way.
    pub async fn verify(&self, password: SecretString, hash: Option<String>) -> Result<bool> {
        let known = hash.is_some();
        let hash = hash.unwrap_or_else(|| self.dummy_hash.to_string());
        let matches = self
            .run(move |area| Ok(matches(password.expose_secret().as_bytes(), &hash, area)))
            .await?;
        Ok(known && matches)
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Vec<Block>) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let queued = Instant::now();
        let _permit = self.permits.acquire().await.map_err(Error::internal)?;
        metrics::histogram!(names::PASSWORD_HASH_QUEUE).record(queued.elapsed().as_secs_f64());
        let slots = metrics::gauge!(names::PASSWORD_HASH_SLOTS_IN_USE);
        slots.set((self.cores - self.permits.available_permits()) as f64);
        let (areas, permits, cores) = (self.areas.clone(), self.permits.clone(), self.cores);
        let (done, result) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            let take = || areas.lock().unwrap_or_else(PoisonError::into_inner).pop();
            let mut area = take().unwrap_or_default();
            let started = Instant::now();
            let result = work(&mut area);
            metrics::histogram!(names::PASSWORD_HASH).record(started.elapsed().as_secs_f64());
            {
                let mut idle = areas.lock().unwrap_or_else(PoisonError::into_inner);
                idle.push(area);
                // Every other permit is free: no hash runs or waits, so the
                // burst (if any) is over. Keep one area for the next login.
                if permits.available_permits() + 1 == cores {
                    idle.truncate(1);
                }
            }
            let _ = done.send(result);
        });
        self.jobs
            .send(job)
            .map_err(|_| Error::internal("the hashing threads are gone"))?;
        let result = result.await;
        // This slot comes free as `_permit` drops, right after.
        slots.set(
            self.cores
                .saturating_sub(self.permits.available_permits() + 1) as f64,
        );
        result.map_err(|_| Error::internal("a hashing job failed"))?
    }
}

/// Starts `count` hashing threads that take jobs from the returned queue
/// until it is dropped.
fn start_hashing_threads(count: usize) -> Result<mpsc::Sender<Job>> {
    let (jobs, queue) = mpsc::channel::<Job>();
    let queue = Arc::new(Mutex::new(queue));
    for _ in 0..count {
        let queue = queue.clone();
        std::thread::Builder::new()
            .name("argon2".into())
            .spawn(move || {
                lower_priority();
                loop {
                    let next = queue.lock().unwrap_or_else(PoisonError::into_inner).recv();
                    let Ok(job) = next else { return };
                    // A panic fails that job alone (its caller sees the
                    // result dropped); the thread stays.
                    let _ = std::panic::catch_unwind(AssertUnwindSafe(job));
                }
            })
            .map_err(Error::internal)?;
    }
    Ok(jobs)
}

/// Lowers the calling thread's scheduling priority to [`HASHING_NICE`].
fn lower_priority() {
    #[cfg(target_os = "linux")]
    if let Err(err) =
        rustix::process::setpriority_process(Some(rustix::thread::gettid()), HASHING_NICE)
    {
        tracing::debug!(error = %err, "could not lower the hashing threads' priority");
    }
}

/// The first blocks of `area` that `params` need, allocating it on first
/// use (or growing it for a stored hash made with more memory).
fn area_of<'a>(area: &'a mut Vec<Block>, params: &Params) -> &'a mut [Block] {
    let needed = params.block_count();
    if area.len() < needed {
        *area = new_area(needed);
    }
    &mut area[..needed]
}

/// Blocks reserved for every working area: just over 32 MiB.
const AREA_CAPACITY_BLOCKS: usize = 32 * 1024 + 1;

/// A zeroed working area of `blocks` blocks, reserved with room for more
/// than 32 MiB. glibc's malloc serves a request that large with its own
/// mapping and unmaps it when freed. A 19 MiB request would be mapped the
/// first time, but freeing it raises glibc's mapping threshold above its
/// size, so every later one would come from a heap that keeps freed
/// memory. The reserve beyond `blocks` is never touched, so it costs
/// address space, not memory.
fn new_area(blocks: usize) -> Vec<Block> {
    let mut area = Vec::with_capacity(blocks.max(AREA_CAPACITY_BLOCKS));
    area.resize(blocks, Block::default());
    area
}

/// Whether `password` produces the output of the PHC string `hash`, with
/// the algorithm, version and parameters the string names.
fn matches(password: &[u8], hash: &str, area: &mut Vec<Block>) -> bool {
    let Ok(parsed) = PasswordHash::new(hash) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (&parsed.salt, &parsed.hash) else {
        return false;
    };
    let Ok(params) = Params::try_from(&parsed) else {
        return false;
    };
    let Ok(algorithm) = Algorithm::try_from(parsed.algorithm.as_str()) else {
        return false;
    };
    let version = match parsed.version.map(Version::try_from).transpose() {
        Ok(version) => version.unwrap_or_default(),
        Err(_) => return false,
    };
    let mut output = vec![0u8; expected.len()];
    let blocks = area_of(area, &params);
    let hashed = Argon2::new(algorithm, version, params).hash_password_into_with_memory(
        password,
        salt,
        &mut output,
        blocks,
    );
    // `Output` compares in constant time.
    hashed.is_ok() && Output::new(&output).is_ok_and(|output| output == *expected)
}

/// The PHC string of an Argon2id hash in this module's parameters.
fn phc_string(salt: &[u8], output: &[u8]) -> Result<String> {
    let hash = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(&params()).map_err(Error::internal)?,
        salt: Some(Salt::new(salt).map_err(Error::internal)?),
        hash: Some(Output::new(output).map_err(Error::internal)?),
    };
    Ok(hash.to_string())
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn no_more_hashes_run_at_once_than_there_are_cores() {
        let passwords = Passwords::new().unwrap();
        let cores = passwords.permits.available_permits();
        let running = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let mut jobs = tokio::task::JoinSet::new();
        for _ in 0..cores * 4 {
            let (passwords, running, peak) = (passwords.clone(), running.clone(), peak.clone());
            jobs.spawn(async move {
                passwords
                    .run(move |_| {
                        let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                        peak.fetch_max(now, Ordering::SeqCst);
                        std::thread::sleep(Duration::from_millis(20));
                        running.fetch_sub(1, Ordering::SeqCst);
                        Ok(())
                    })
                    .await
            });
        }
        for result in jobs.join_all().await {
            result.unwrap();
        }
        assert_eq!(peak.load(Ordering::SeqCst), cores);
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn hashes_verify_and_unknown_users_never_do() {
        let passwords = Passwords::new().unwrap();
        let hash = passwords
            .hash(SecretString::from("hunter2hunter2"))
            .await
            .unwrap();
        assert!(
            hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{hash}"
        );
        let check = |pw: &str, hash: Option<String>| {
            passwords.verify(SecretString::from(pw.to_owned()), hash)
        };
        assert!(check("hunter2hunter2", Some(hash.clone())).await.unwrap());
        assert!(!check("wrong", Some(hash)).await.unwrap());
        assert!(!check("hunter2hunter2", None).await.unwrap());
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn hashes_agree_with_the_argon2_crate_both_ways() {
        use argon2::password_hash::{PasswordHasher, PasswordVerifier};
        let passwords = Passwords::new().unwrap();
        let ours = passwords
            .hash(SecretString::from("s3cret pass"))
            .await
            .unwrap();
        let reference = Argon2::default();
        assert!(
            reference
                .verify_password(b"s3cret pass", ours.as_str())
                .is_ok()
        );
        // Made by the crate, and with other parameters (less memory).
        let small = Params::new(8192, 1, 1, None).unwrap();
        for theirs in [
            reference.hash_password(b"s3cret pass").unwrap().to_string(),
            Argon2::new(Algorithm::Argon2id, Version::V0x13, small)
                .hash_password(b"s3cret pass")
                .unwrap()
                .to_string(),
        ] {
            let check = |pw: &str| {
                passwords.verify(SecretString::from(pw.to_owned()), Some(theirs.clone()))
            };
            assert!(check("s3cret pass").await.unwrap(), "{theirs}");
            assert!(!check("s3cret pasS").await.unwrap(), "{theirs}");
        }
        let garbage = Some("$argon2id$not-a-hash".to_owned());
        assert!(
            !passwords
                .verify(SecretString::from("x"), garbage)
                .await
                .unwrap()
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn working_areas_are_reused_not_multiplied() {
        let passwords = Passwords::new().unwrap();
        let cores = passwords.permits.available_permits();
        let mut jobs = tokio::task::JoinSet::new();
        for _ in 0..cores * 4 {
            let passwords = passwords.clone();
            jobs.spawn(async move { passwords.hash(SecretString::from("burst password")).await });
        }
        for result in jobs.join_all().await {
            result.unwrap();
        }
        let areas = passwords.areas.lock().unwrap();
        assert!((1..=cores).contains(&areas.len()), "{} areas", areas.len());
        assert!(
            areas
                .iter()
                .all(|area| area.len() == params().block_count())
        );
    }

    #[cfg(target_os = "linux")]
    #[tokio::test(flavor = "multi_thread")]
    async fn hashing_threads_run_at_a_lower_priority() {
        let passwords = Passwords::new().unwrap();
        passwords
            .hash(SecretString::from("any password"))
            .await
            .unwrap();
        let mut niceness = Vec::new();
        for task in std::fs::read_dir("/proc/self/task").unwrap() {
            let stat = std::fs::read_to_string(task.unwrap().path().join("stat")).unwrap();
            let (name, rest) = stat.split_once(") ").unwrap();
            if name.ends_with("(argon2") {
                // Fields after the name: state is 3rd overall, nice 19th.
                niceness.push(rest.split_whitespace().nth(16).unwrap().to_owned());
            }
        }
        assert!(!niceness.is_empty());
        assert!(niceness.iter().all(|nice| nice == "10"), "{niceness:?}");
    }
}
