//! Queue depth against moto: the three counts, names and URLs, one read per distinct queue,
//! a role's view of another account, and errors naming the queue.
use sqs_depth::{QueueDepth, QueueRef, SqsDepth, SqsError};
use testbed::harness::Moto;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counts_names_urls_roles_and_one_read_per_queue() {
    let moto = Moto::start().expect("moto");
    let setup = aws_sdk_sqs::Client::new(&moto.sdk_config().await);
    let url = setup
        .create_queue()
        .queue_name("work")
        .send()
        .await
        .unwrap()
        .queue_url()
        .unwrap()
        .to_owned();
    for _ in 0..3 {
        setup
            .send_message()
            .queue_url(&url)
            .message_body("now")
            .send()
            .await
            .unwrap();
    }
    setup
        .send_message()
        .queue_url(&url)
        .message_body("later")
        .delay_seconds(600)
        .send()
        .await
        .unwrap();
    let received = setup
        .receive_message()
        .queue_url(&url)
        .max_number_of_messages(1)
        .visibility_timeout(600)
        .send()
        .await
        .unwrap();
    assert_eq!(received.messages().len(), 1);

    // The function's own identity: an execution role in account 123456789012.
    let creds = moto
        .assume_role("arn:aws:iam::123456789012:role/scaler", "scaler")
        .await
        .unwrap();
    let sqs = SqsDepth::new(&moto.sdk_config_for(&creds).await, "scaler");
    let by_name = QueueRef::named("work");
    let by_url = QueueRef::named(url.clone());
    let readings = sqs
        .read_all([by_name.clone(), by_url.clone(), by_name.clone()])
        .await;
    assert_eq!(readings.len(), 2);
    let expected = QueueDepth {
        visible: 2,
        in_flight: 1,
        delayed: 1,
    };
    for queue in [&by_name, &by_url] {
        let reading = readings[queue].as_ref().unwrap();
        assert_eq!(reading.depth, expected, "{queue:?}");
        assert_eq!(reading.arn, "arn:aws:sqs:us-east-1:123456789012:work");
    }
    // GetQueueUrl for the name, GetQueueAttributes for each distinct queue.
    assert_eq!(sqs.calls(), 3);
    sqs.read(&by_name).await.unwrap();
    assert_eq!(sqs.calls(), 4, "the URL of a name is remembered");

    // A queue of another account: missing for our identity, there for the role's.
    let partner = aws_sdk_sqs::Client::new(
        &moto
            .sdk_config_for(
                &moto
                    .assume_role("arn:aws:iam::999999999999:role/admin", "setup")
                    .await
                    .unwrap(),
            )
            .await,
    );
    partner
        .create_queue()
        .queue_name("partner")
        .send()
        .await
        .unwrap();
    let ours = QueueRef::named("partner");
    let theirs = QueueRef {
        role_arn: Some("arn:aws:iam::999999999999:role/reader".into()),
        ..ours.clone()
    };
    let readings = sqs.read_all([ours.clone(), theirs.clone()]).await;
    assert_eq!(
        readings[&ours],
        Err(SqsError::NotFound {
            queue: "partner".into(),
            role: None
        })
    );
    let reading = readings[&theirs].as_ref().unwrap();
    assert_eq!(reading.arn, "arn:aws:sqs:us-east-1:999999999999:partner");
    assert_eq!(reading.depth, QueueDepth::default());

    // A deleted queue is reported by name, and its remembered URL forgotten.
    setup.delete_queue().queue_url(&url).send().await.unwrap();
    let err = sqs.read(&by_name).await.unwrap_err();
    assert_eq!(err.to_string(), "queue work: does not exist");
    let before = sqs.calls();
    let _ = sqs.read(&by_name).await;
    assert_eq!(
        sqs.calls() - before,
        1,
        "looked up by name again (GetQueueUrl fails)"
    );
}
