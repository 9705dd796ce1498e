//! libFuzzer target: every SDK response type and the error body decoded
//! from the input bytes; whatever decodes re-encodes to a stable form.

#![no_main]

use libfuzzer_sys::fuzz_target;
use vestis_client::wire::ErrorBody;
use vestis_client::{CancelJobResponse, CreateJobResponse, Job, JobPage, JobStatus};

fn normal_form<T: serde::de::DeserializeOwned + serde::Serialize>(data: &[u8]) {
    if let Ok(value) = serde_json::from_slice::<T>(data) {
        let text = serde_json::to_string(&value).expect("encodes");
        let again: T = serde_json::from_str(&text).expect("decodes again");
        assert_eq!(serde_json::to_string(&again).expect("encodes"), text);
    }
}

fuzz_target!(|data: &[u8]| {
    if let Ok(job) = serde_json::from_slice::<Job>(data) {
        let _ = (job.run_time(), job.image_url(), job.created_at.to_string());
    }
    normal_form::<Job>(data);
    normal_form::<JobPage>(data);
    normal_form::<CreateJobResponse>(data);
    normal_form::<CancelJobResponse>(data);
    if let Ok(e) = serde_json::from_slice::<ErrorBody>(data) {
        let _ = e.code.http_status();
    }
    let _ = serde_json::from_slice::<JobStatus>(data).map(|s| s.is_terminal());
});
