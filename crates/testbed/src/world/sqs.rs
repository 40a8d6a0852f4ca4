//! SQS queues for the scalers' tests and benches: created, and given messages.

/// Creates the queue `name`; its URL.
pub async fn create_queue(sqs: &aws_sdk_sqs::Client, name: &str) -> String {
    sqs.create_queue()
        .queue_name(name)
        .send()
        .await
        .expect("create queue")
        .queue_url()
        .expect("a queue URL")
        .to_owned()
}

/// Sends `n` messages (`m0`, `m1`, …) to the queue at `queue_url`.
pub async fn send(sqs: &aws_sdk_sqs::Client, queue_url: &str, n: usize) {
    for i in 0..n {
        sqs.send_message()
            .queue_url(queue_url)
            .message_body(format!("m{i}"))
            .send()
            .await
            .expect("send");
    }
}
