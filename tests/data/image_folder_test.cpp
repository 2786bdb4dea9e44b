#include <lowbit/csrc/data/image_folder.h>

#include <gtest/gtest.h>

#include <c10/util/Exception.h>

#include "support/error_of.h"
#include "support/imagenet_sample.h"
#include "support/temp_dir.h"

#include <fstream>

using lowbit::data::scan_image_folder;
using lowbit::testing::TempDir;
using ImageFolderOnSample = lowbit::testing::ImagenetSampleTest;

using lowbit::testing::error_of;

TEST_F(ImageFolderOnSample, ClassesFollowSynsetWordsOrder) {
  const auto folder = scan_image_folder(lowbit::testing::imagenet_sample_images());
  std::ifstream synsets(lowbit::testing::imagenet_sample_dir() + "/synset_words.txt");
  std::vector<std::string> wnids;
  for (std::string line; std::getline(synsets, line);) wnids.push_back(line.substr(0, line.find(' ')));
  ASSERT_EQ(wnids.size(), 1000u);
  EXPECT_EQ(folder.classes, wnids);
  ASSERT_EQ(folder.samples.size(), 1000u);  // one image per class
  for (size_t i = 0; i < folder.samples.size(); ++i) {
    EXPECT_EQ(folder.samples[i].label, static_cast<int64_t>(i));
    EXPECT_NE(folder.samples[i].path.find("/" + wnids[i] + "/" + wnids[i] + "_"), std::string::npos);
  }
  EXPECT_EQ(folder.samples.front().path, lowbit::testing::imagenet_sample_images() + "/n01440764/n01440764_tench.JPEG");
}

TEST(ImageFolder, SortsClassesAndFilesAndKeepsOnlyJpegNames) {
  TempDir dir;
  for (const auto* name : {"zebra", "ant", ".ipynb_checkpoints"}) dir.make_dir(name);
  for (const auto* name : {"zebra/b.jpeg", "zebra/a.JPG", "zebra/notes.txt", "ant/2.JPEG", "ant/10.jpg", "ant/x.png",
                           "ant/.hidden.jpg", ".ipynb_checkpoints/c.jpg", "LOC_synset_mapping.txt"}) {
    dir.write(name, "x");
  }
  const auto folder = scan_image_folder(dir.path());
  EXPECT_EQ(folder.classes, (std::vector<std::string>{"ant", "zebra"}));
  std::vector<std::pair<std::string, int64_t>> samples;
  for (const auto& s : folder.samples) samples.emplace_back(s.path, s.label);
  EXPECT_EQ(samples, (std::vector<std::pair<std::string, int64_t>>{{dir.file("ant/10.jpg"), 0},
                                                                   {dir.file("ant/2.JPEG"), 0},
                                                                   {dir.file("zebra/a.JPG"), 1},
                                                                   {dir.file("zebra/b.jpeg"), 1}}));
}

TEST(ImageFolder, MissingRootIsNamed) {
  const auto msg = error_of([] { scan_image_folder("/nonexistent/imagenet/train"); });
  EXPECT_NE(msg.find("/nonexistent/imagenet/train: cannot list (No such file or directory)"), std::string::npos) << msg;
}

TEST(ImageFolder, RootWithoutClassFoldersIsNamed) {
  TempDir dir;
  dir.write("image.JPEG", "x");
  const auto msg = error_of([&] { scan_image_folder(dir.path()); });
  EXPECT_NE(msg.find(dir.path() + ": no class folders (expected " + dir.path() + "/<class>/<image>.JPEG)"),
            std::string::npos)
      << msg;
}

TEST(ImageFolder, ClassWithoutImagesIsAnErrorNamingIt) {
  TempDir dir;
  for (const auto* name : {"a", "b", "c"}) dir.make_dir(name);
  dir.write("a/1.JPEG", "x");
  dir.write("c/readme.txt", "x");
  const auto msg = error_of([&] { scan_image_folder(dir.path()); });
  EXPECT_NE(msg.find(dir.path() + ": 2 of 3 class folders hold no .jpg/.jpeg image (b, c)"), std::string::npos) << msg;
}
