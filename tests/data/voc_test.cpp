#include <lowbit/csrc/data/voc.h>

#include <gtest/gtest.h>

#include "support/error_of.h"
#include "support/temp_dir.h"

using namespace lowbit::data;
using lowbit::testing::error_of;
using lowbit::testing::TempDir;

namespace {

// An object element of a VOC annotation file.
std::string voc_object(const std::string& name, int difficult, const std::string& box) {
  return "<object><name>" + name + "</name><pose>Left</pose><truncated>0</truncated><difficult>" +
         std::to_string(difficult) + "</difficult>" + box + "</object>";
}

std::string voc_box(int xmin, int ymin, int xmax, int ymax) {
  return "<bndbox><xmin>" + std::to_string(xmin) + "</xmin><ymin>" + std::to_string(ymin) + "</ymin><xmax>" +
         std::to_string(xmax) + "</xmax><ymax>" + std::to_string(ymax) + "</ymax></bndbox>";
}

// A VOCdevkit in a temp dir, in the official layout.
struct SmallDevkit {
  TempDir dir;

  void add_year(const std::string& year) {
    dir.make_dir("VOC" + year);
    dir.make_dir("VOC" + year + "/Annotations");
    dir.make_dir("VOC" + year + "/JPEGImages");
    dir.make_dir("VOC" + year + "/ImageSets");
    dir.make_dir("VOC" + year + "/ImageSets/Main");
  }

  void add_image(const std::string& year, const std::string& name, const std::string& objects, bool jpeg = true) {
    dir.write("VOC" + year + "/Annotations/" + name + ".xml",
              "<annotation><folder>VOC" + year + "</folder><filename>" + name +
                  ".jpg</filename><size><width>500</width><height>375</height><depth>3</depth></size>"
                  "<segmented>0</segmented>" +
                  objects + "</annotation>");
    if (jpeg) dir.write("VOC" + year + "/JPEGImages/" + name + ".jpg", "not decoded here");
  }

  void add_set(const std::string& year, const std::string& set, const std::string& lines) {
    dir.write("VOC" + year + "/ImageSets/Main/" + set + ".txt", lines);
  }

  std::string xml(const std::string& year, const std::string& name) const {
    return dir.file("VOC" + year + "/Annotations/" + name + ".xml");
  }
};

}  // namespace

TEST(Voc, ReadsSetsOfSeveralYearsInOrderWithBoxesFromOneBasedPixels) {
  SmallDevkit devkit;
  devkit.add_year("2007");
  devkit.add_year("2012");
  devkit.add_image("2007", "000005", voc_object("chair", 0, voc_box(263, 211, 324, 339)) +
                                         voc_object("chair", 1, voc_box(5, 244, 67, 374)));
  devkit.add_image("2007", "000007", voc_object("car", 0, voc_box(141, 50, 500, 330)));
  devkit.add_image("2012", "2008_000002", voc_object("tvmonitor", 0, voc_box(1, 1, 500, 375)));
  devkit.add_image("2012", "2008_000003", "");
  devkit.add_set("2007", "trainval", "000005\n000007\n");
  devkit.add_set("2012", "trainval", "2008_000002\n\n2008_000003\n");

  const auto set = read_voc(devkit.dir.path(), {{"2007", "trainval"}, {"2012", "trainval"}});
  ASSERT_EQ(set.num_classes(), 20);
  EXPECT_EQ(set.categories[0].name, "aeroplane");
  EXPECT_EQ(set.categories[0].id, 1);
  EXPECT_EQ(set.categories[19].name, "tvmonitor");
  EXPECT_EQ(set.categories[19].id, 20);
  ASSERT_EQ(set.images.size(), 4u);
  for (int64_t i = 0; i < 4; ++i) EXPECT_EQ(set.images[i].id, i);
  EXPECT_EQ(set.images[0].path, devkit.dir.file("VOC2007/JPEGImages/000005.jpg"));
  EXPECT_EQ(set.images[2].path, devkit.dir.file("VOC2012/JPEGImages/2008_000002.jpg"));
  EXPECT_EQ(set.images[0].width, 500);
  EXPECT_EQ(set.images[0].height, 375);
  EXPECT_TRUE(set.images[3].annotations.empty());

  const auto& chairs = set.images[0].annotations;
  ASSERT_EQ(chairs.size(), 2u);
  // (263, 211, 324, 339) 1-based inclusive -> x = 262, y = 210, w = 324 - 263 + 1 = 62, h = 129
  EXPECT_EQ(chairs[0].box, (std::array<float, 4>{262, 210, 62, 129}));
  EXPECT_DOUBLE_EQ(chairs[0].area, 62.0 * 129.0);
  EXPECT_EQ(chairs[0].label, 8);
  EXPECT_EQ(chairs[0].category_id, 9);
  EXPECT_FALSE(chairs[0].ignore);
  EXPECT_TRUE(chairs[1].ignore);  // difficult
  // The whole image: (1, 1, 500, 375) -> (0, 0, 500, 375)
  EXPECT_EQ(set.images[2].annotations[0].box, (std::array<float, 4>{0, 0, 500, 375}));
  EXPECT_EQ(set.images[2].annotations[0].label, 19);
}

TEST(Voc, ParsesYearSlashSet) {
  const auto set = parse_voc_image_set("2012/trainval");
  EXPECT_EQ(set.year, "2012");
  EXPECT_EQ(set.name, "trainval");
  for (const auto* bad : {"2007", "07/test", "2007/", "2007/test/x", "/test"}) {
    EXPECT_NE(error_of([&] { parse_voc_image_set(bad); }).find("expected a VOC image set as \"<year>/<set>\""),
              std::string::npos)
        << bad;
  }
}

TEST(VocErrors, ObjectWithoutBndboxNamesFileAndObject) {
  SmallDevkit devkit;
  devkit.add_year("2007");
  devkit.add_image("2007", "000001", voc_object("dog", 0, voc_box(1, 2, 3, 4)) + voc_object("dog", 0, ""));
  devkit.add_set("2007", "test", "000001\n");
  const auto error = error_of([&] { read_voc(devkit.dir.path(), {{"2007", "test"}}); });
  EXPECT_NE(error.find(devkit.xml("2007", "000001") + ": object 1 ('dog'): no <bndbox>"), std::string::npos) << error;
}

TEST(VocErrors, UnknownClassNamesFileObjectAndSuggestion) {
  SmallDevkit devkit;
  devkit.add_year("2007");
  devkit.add_image("2007", "000001", voc_object("dgo", 0, voc_box(1, 2, 3, 4)));
  devkit.add_set("2007", "test", "000001\n");
  const auto error = error_of([&] { read_voc(devkit.dir.path(), {{"2007", "test"}}); });
  EXPECT_NE(error.find(devkit.xml("2007", "000001") + ": object 0: unknown class 'dgo' (did you mean 'dog'?)"),
            std::string::npos)
      << error;
}

TEST(VocErrors, NonNumericCoordinateNamesFileObjectAndTag) {
  SmallDevkit devkit;
  devkit.add_year("2007");
  const std::string box = "<bndbox><xmin>1</xmin><ymin>2.5px</ymin><xmax>3</xmax><ymax>4</ymax></bndbox>";
  devkit.add_image("2007", "000001", voc_object("dog", 0, voc_box(1, 2, 3, 4)) + voc_object("cat", 0, box));
  devkit.add_set("2007", "test", "000001\n");
  const auto error = error_of([&] { read_voc(devkit.dir.path(), {{"2007", "test"}}); });
  EXPECT_NE(error.find(devkit.xml("2007", "000001") + ": object 1 ('cat') <bndbox>: <ymin> must be a number, got '2.5px'"),
            std::string::npos)
      << error;
}

TEST(VocErrors, MissingFilesAreNamed) {
  SmallDevkit devkit;
  devkit.add_year("2007");
  devkit.add_image("2007", "000001", voc_object("dog", 0, voc_box(1, 2, 3, 4)), /*jpeg=*/false);
  devkit.add_set("2007", "test", "000001\n000002\n");
  auto error = error_of([&] { read_voc(devkit.dir.path(), {{"2007", "test"}}); });
  const auto list = devkit.dir.file("VOC2007/ImageSets/Main/test.txt");
  EXPECT_NE(error.find(list + ":1: " + devkit.dir.file("VOC2007/JPEGImages/000001.jpg") + " does not exist"),
            std::string::npos)
      << error;
  devkit.dir.write("VOC2007/JPEGImages/000001.jpg", "x");
  error = error_of([&] { read_voc(devkit.dir.path(), {{"2007", "test"}}); });
  EXPECT_NE(error.find(devkit.xml("2007", "000002")), std::string::npos) << error;  // no such XML
  error = error_of([&] { read_voc(devkit.dir.path(), {{"2007", "train"}}); });
  EXPECT_NE(error.find(devkit.dir.file("VOC2007/ImageSets/Main/train.txt")), std::string::npos) << error;
}

TEST(VocErrors, MalformedXmlAndEmptyBoxAreNamed) {
  SmallDevkit devkit;
  devkit.add_year("2007");
  devkit.dir.write("VOC2007/Annotations/000001.xml", "<annotation><size><width>5</width>");
  devkit.dir.write("VOC2007/JPEGImages/000001.jpg", "x");
  devkit.add_image("2007", "000002", voc_object("cat", 0, voc_box(10, 2, 9, 4)));
  devkit.add_set("2007", "a", "000001\n");
  devkit.add_set("2007", "b", "000002\n");
  auto error = error_of([&] { read_voc(devkit.dir.path(), {{"2007", "a"}}); });
  EXPECT_NE(error.find(devkit.xml("2007", "000001") + ": not valid XML"), std::string::npos) << error;
  error = error_of([&] { read_voc(devkit.dir.path(), {{"2007", "b"}}); });
  EXPECT_NE(error.find(devkit.xml("2007", "000002") + ": object 0 ('cat') <bndbox>: empty box"), std::string::npos)
      << error;
}
