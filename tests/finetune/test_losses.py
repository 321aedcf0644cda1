import torch
import torch.nn.functional as F

from finetune.losses import ArcFace, SoftmaxHead


def test_margin_lowers_the_target_logit_only():
    torch.manual_seed(0)
    head = ArcFace(16, 5, scale=10.0, margin=0.0)
    embeddings, labels = torch.randn(6, 16), torch.tensor([0, 1, 2, 3, 4, 0])
    plain = head.logits(embeddings, labels)
    head.margin = 0.3
    with_margin = head.logits(embeddings, labels)
    target = F.one_hot(labels, 5).bool()
    assert torch.all(with_margin[target] < plain[target])
    assert torch.allclose(with_margin[~target], plain[~target])


def test_zero_margin_equals_scaled_normalised_softmax_cross_entropy():
    torch.manual_seed(1)
    head = ArcFace(8, 4, scale=16.0, margin=0.0)
    embeddings, labels = torch.randn(10, 8), torch.randint(0, 4, (10,))
    cosine = F.normalize(embeddings) @ F.normalize(head.weight).T
    expected = F.cross_entropy(16.0 * cosine, labels)
    loss, _ = head(embeddings, labels)
    assert torch.allclose(loss, expected, atol=1e-5)


def test_gradients_are_finite_at_cos_plus_and_minus_one():
    head = ArcFace(4, 2, scale=16.0, margin=0.3)
    with torch.no_grad():
        head.weight.copy_(torch.tensor([[1.0, 0, 0, 0], [0, 1.0, 0, 0]]))
    embeddings = torch.tensor([[1.0, 0, 0, 0], [-1.0, 0, 0, 0]], requires_grad=True)  # cos = +1 and -1
    loss, _ = head(embeddings, torch.tensor([0, 0]))
    loss.backward()
    assert torch.isfinite(loss)
    assert torch.isfinite(embeddings.grad).all() and torch.isfinite(head.weight.grad).all()


def test_softmax_head_is_plain_cross_entropy():
    head = SoftmaxHead(8, 3)
    embeddings, labels = torch.randn(5, 8), torch.tensor([0, 1, 2, 1, 0])
    loss, logits = head(embeddings, labels)
    assert torch.allclose(loss, F.cross_entropy(head.fc(embeddings), labels))
