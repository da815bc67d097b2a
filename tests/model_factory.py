"""Random-weight models of the seed's architectures, saved with ``save_pretrained``.

``size="tiny"`` builds models small enough for unit tests (a few seconds on 2 cores);
``size="full"`` rebuilds the seed models' real shapes (``../shared/reference/seed-models.md``) for
benchmarks, where speed does not depend on the weights' values. Nothing here downloads anything.

At transformers' default init (std 0.02) a tiny random model barely hears its input: its scores sit
within ~1e-4 of uniform whatever the clip, and a time-reversed or silent clip scores within the
parity tolerance of the real one, so a parity test would pass on the wrong audio. Tiny models are
therefore built with a larger init std (``TINY_INIT_STD``) and sharper attention (query and key
projections scaled by ``ATTENTION_GAIN``, so that the order of frames matters): different clips,
including a clip and its time reversal, then score >= 1e-2 apart (max |difference| of
probabilities), 100x the 1e-4 parity tolerance, without saturating one label (top score < 0.7).
"""

from __future__ import annotations

from pathlib import Path

KEYWORDS = ("backward bed bird cat dog down eight five follow forward four go happy house learn left marvin "
            "nine no off on one right seven sheila six stop three tree two up visual wow yes zero").split()
INTENTS = ("abroad address app_error atm_limit balance business_loan card_issues cash_deposit direct_debit "
           "freeze high_value_payment joint_account latest_transactions pay_bill").split()
LANGUAGES = ["English", "French", "German", "Spanish", "Afrikaans", "Cantonese Chinese"]


TINY_INIT_STD = 0.2
ATTENTION_GAIN = 4.0
CLAP_INIT_FACTOR = 5.0  # CLAP scales its own std (hidden_size^-0.5 / sqrt(2 layers)) by this factor
CLAP_ATTENTION_GAIN = 3.0
# HuBERT's post-norm layers amplify rounding: at gain 4 its bfloat16 error (~5e-2) exceeded its spread
# between clips; at 2 it hears as well (spread >= 0.03) with a bfloat16 error of ~1e-2.
HUBERT_ATTENTION_GAIN = 2.0


def _sharpen_attention(model, gain: float):
    """Scale every attention query/key projection (scores by gain^2): attention then depends on content."""
    import torch

    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if name.endswith(("q_proj.weight", "k_proj.weight", "query.weight", "key.weight")):
                parameter.mul_(gain)
    return model


def _labels(config_kwargs: dict, labels: list[str]) -> dict:
    config_kwargs["id2label"] = dict(enumerate(labels))
    config_kwargs["label2id"] = {label: i for i, label in enumerate(labels)}
    config_kwargs["num_labels"] = len(labels)
    return config_kwargs


def _save(model, feature_extractor, folder: Path) -> Path:
    import torch

    torch.manual_seed(0)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder, safe_serialization=True)
    feature_extractor.save_pretrained(folder)
    return folder


def build_ast(folder: Path, size: str = "tiny", labels: list[str] = KEYWORDS) -> Path:
    import torch
    from transformers import ASTConfig, ASTFeatureExtractor, ASTForAudioClassification

    torch.manual_seed(0)
    shape = dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072) \
        if size == "full" else dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                                     initializer_range=TINY_INIT_STD)
    config = ASTConfig(**_labels(dict(shape, patch_size=16, frequency_stride=10, time_stride=10,
                                      max_length=128, num_mel_bins=128), labels))
    extractor = ASTFeatureExtractor(max_length=128, mean=-6.845978, std=5.5654526)
    model = ASTForAudioClassification(config).eval()
    return _save(model if size == "full" else _sharpen_attention(model, ATTENTION_GAIN), extractor, folder)


def build_wav2vec2(folder: Path, size: str = "tiny", labels: list[str] = INTENTS) -> Path:
    """XLS-R shape: layer-norm conv encoder, stable layer norm, attention mask."""
    import torch
    from transformers import Wav2Vec2Config, Wav2Vec2FeatureExtractor, Wav2Vec2ForSequenceClassification

    torch.manual_seed(0)
    shape = dict(hidden_size=1024, num_hidden_layers=24, num_attention_heads=16, intermediate_size=4096,
                 classifier_proj_size=256) if size == "full" else \
        dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
             classifier_proj_size=16, conv_dim=(32,) * 7, num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=2,
             initializer_range=TINY_INIT_STD)
    config = Wav2Vec2Config(**_labels(dict(shape, feat_extract_norm="layer", do_stable_layer_norm=True,
                                           conv_bias=True), labels))
    extractor = Wav2Vec2FeatureExtractor(feature_size=1, sampling_rate=16000, padding_value=0.0,
                                         do_normalize=True, return_attention_mask=True)
    model = Wav2Vec2ForSequenceClassification(config).eval()
    return _save(model if size == "full" else _sharpen_attention(model, ATTENTION_GAIN), extractor, folder)


def build_hubert(folder: Path, labels: list[str] = INTENTS[:5]) -> Path:
    """HuBERT base style: group-norm conv encoder and no attention mask (padding would change scores)."""
    import torch
    from transformers import HubertConfig, HubertForSequenceClassification, Wav2Vec2FeatureExtractor

    torch.manual_seed(0)
    config = HubertConfig(**_labels(dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                         intermediate_size=64, classifier_proj_size=16, conv_dim=(32,) * 7,
                                         num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=2,
                                         feat_extract_norm="group", initializer_range=TINY_INIT_STD), labels))
    extractor = Wav2Vec2FeatureExtractor(feature_size=1, sampling_rate=16000, padding_value=0.0,
                                         do_normalize=False, return_attention_mask=False)
    return _save(_sharpen_attention(HubertForSequenceClassification(config).eval(), HUBERT_ATTENTION_GAIN), extractor, folder)


def build_whisper(folder: Path, size: str = "tiny", labels: list[str] = LANGUAGES) -> Path:
    import torch
    from transformers import WhisperConfig, WhisperFeatureExtractor, WhisperForAudioClassification

    torch.manual_seed(0)
    shape = dict(d_model=1024, encoder_layers=24, encoder_attention_heads=16, encoder_ffn_dim=4096,
                 decoder_layers=24, decoder_attention_heads=16, decoder_ffn_dim=4096) if size == "full" else \
        dict(d_model=32, encoder_layers=2, encoder_attention_heads=2, encoder_ffn_dim=64,
             decoder_layers=1, decoder_attention_heads=2, decoder_ffn_dim=64, init_std=TINY_INIT_STD)
    config = WhisperConfig(**_labels(dict(shape, num_mel_bins=80, max_source_positions=1500,
                                          classifier_proj_size=256 if size == "full" else 16), labels))
    extractor = WhisperFeatureExtractor(feature_size=80)
    model = WhisperForAudioClassification(config).eval()
    return _save(model if size == "full" else _sharpen_attention(model, ATTENTION_GAIN), extractor, folder)


# ESC-50's 50 categories (underscores as in the dataset) and the words of common prompt templates:
# the word-level test tokenizer knows these, so prompts about environmental sounds tokenize without <unk>.
ESC50 = ("dog rooster pig cow frog cat hen insects sheep crow rain sea_waves crackling_fire crickets "
         "chirping_birds water_drops wind pouring_water toilet_flush thunderstorm crying_baby sneezing clapping "
         "breathing coughing footsteps laughing brushing_teeth snoring drinking_sipping door_wood_knock "
         "mouse_click keyboard_typing door_wood_creaks can_opening washing_machine vacuum_cleaner clock_alarm "
         "clock_tick glass_breaking helicopter chainsaw siren car_horn engine train church_bells airplane "
         "fireworks hand_saw").split()
TEMPLATE_WORDS = ("this is a an the sound of sounds recording audio clip noise noises hear hearing you can "
                  "i in it with from some someone something people person speech music silence loud quiet "
                  "environmental yes no speaking talking playing . , ! ? ' -").split()
ROBERTA_SPECIALS = ["<s>", "<pad>", "</s>", "<unk>"]  # ids 0-3 as in RoBERTa: bos 0, pad 1, eos 2


def clap_vocabulary() -> list[str]:
    words = dict.fromkeys(w for label in ESC50 for w in [label, *label.split("_")])
    words.update(dict.fromkeys(TEMPLATE_WORDS + KEYWORDS))
    return ROBERTA_SPECIALS + sorted(words) + ["<mask>"]


def build_clap_tokenizer():
    """A word-level ``tokenizers`` tokenizer that frames text like RoBERTa: ``<s> words </s>``."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab = {word: i for i, word in enumerate(clap_vocabulary())}
    core = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    core.normalizer = normalizers.Lowercase()
    core.pre_tokenizer = pre_tokenizers.Whitespace()
    core.post_processor = processors.RobertaProcessing(("</s>", 2), ("<s>", 0))
    return PreTrainedTokenizerFast(tokenizer_object=core, bos_token="<s>", eos_token="</s>", pad_token="<pad>",
                                   unk_token="<unk>", cls_token="<s>", sep_token="</s>", mask_token="<mask>",
                                   model_max_length=512)


def build_clap(folder: Path, size: str = "tiny") -> Path:
    """CLAP (HTSAT audio tower + RoBERTa text tower), saved with its ``ClapProcessor``.

    ``full`` is ``laion/clap-htsat-unfused``'s shape (default configs, 153.5M parameters; the text
    vocabulary keeps RoBERTa's 50265 rows though the tokenizer knows only a few hundred words).
    The feature extractor matches the hub model's: 48 kHz, 64 mel, 10 s, rand_trunc + repeatpad.
    """
    import torch
    from transformers import ClapAudioConfig, ClapConfig, ClapFeatureExtractor, ClapModel, ClapProcessor, ClapTextConfig

    torch.manual_seed(0)
    tokenizer = build_clap_tokenizer()
    if size == "full":
        audio, text, projection = ClapAudioConfig(), ClapTextConfig(), {}
    else:
        # HTSAT keeps spec_size 256 = 4 x 64 mel bins; its hidden size must be patch_embeds x 2^(stages-1).
        audio = ClapAudioConfig(patch_embeds_hidden_size=8, depths=[1, 1], num_attention_heads=[2, 2],
                                hidden_size=16, projection_dim=16, initializer_factor=CLAP_INIT_FACTOR)
        text = ClapTextConfig(vocab_size=len(tokenizer), hidden_size=16, num_hidden_layers=2,
                              num_attention_heads=2, intermediate_size=32, projection_dim=16,
                              initializer_factor=CLAP_INIT_FACTOR)
        projection = dict(projection_dim=16, initializer_factor=CLAP_INIT_FACTOR)
    config = ClapConfig(text_config=text.to_dict(), audio_config=audio.to_dict(), **projection)
    extractor = ClapFeatureExtractor(truncation="rand_trunc", padding="repeatpad", frequency_min=50,
                                     frequency_max=14000)
    model = ClapModel(config).eval()
    if size != "full":
        _sharpen_attention(model, CLAP_ATTENTION_GAIN)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder, safe_serialization=True)
    ClapProcessor(feature_extractor=extractor, tokenizer=tokenizer).save_pretrained(folder)
    return folder
